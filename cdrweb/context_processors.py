from __future__ import annotations

from cdrweb import masking, roles


def cdrweb(request):
    user = getattr(request, "user", None)
    return {
        "pii": masking.masker_for(request) if user is not None else masking.MASKED,
        "pii_can_reveal": masking.can_reveal(user),
        "pii_revealed": masking.is_revealed(request) if user is not None else False,
        "user_role": roles.role_of(user) if user is not None else None,
    }
