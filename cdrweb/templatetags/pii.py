"""Template side of the masking layer: ``{% load pii %}{% phone leg.ani %}``.

The tags read the request's masker (``pii`` from the context processor), so a template cannot
forget the user's role. Values are escaped by Django as usual.
"""

from __future__ import annotations

from django import template

from cdrweb import masking

register = template.Library()


def _masker(context) -> masking.Masker:
    masker = context.get("pii")
    return masker if isinstance(masker, masking.Masker) else masking.MASKED


@register.simple_tag(takes_context=True)
def phone(context, value):
    return _masker(context).phone(value)


@register.simple_tag(takes_context=True)
def person(context, value):
    return _masker(context).name(value)


@register.simple_tag(takes_context=True)
def email(context, value):
    return _masker(context).email(value)


@register.simple_tag(takes_context=True)
def freetext(context, value):
    return _masker(context).text(value)


@register.simple_tag(takes_context=True)
def masked(context, value, kind):
    return _masker(context)(value, kind)


@register.filter
def mask_phone(value):
    """Always-masked filter, for places that never reveal (e.g. audit summaries)."""
    return masking.mask_phone(value)


@register.filter
def scrub(value):
    return masking.scrub(str(value)) if value is not None else ""


@register.simple_tag(takes_context=True)
def prose(context, value):
    """Text that may contain numbers or emails (summaries, log lines): scrubbed unless revealed."""
    if value is None:
        return ""
    return value if _masker(context).reveal else masking.scrub(str(value))
