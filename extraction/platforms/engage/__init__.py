"""RingCentral RingCX (Engage Voice): interaction metadata and the deprecated Call Detail Report."""
