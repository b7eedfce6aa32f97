from django import template

from cdrweb.navigation import links_for

register = template.Library()


@register.simple_tag(takes_context=True)
def nav_links(context):
    request = context.get("request")
    return links_for(request) if request is not None else []
