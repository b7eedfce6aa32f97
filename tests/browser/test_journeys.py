import pytest

from tests.browser_fixtures import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("role", ["administrator", "analyst", "viewer", "auditor"])
def test_each_role_logs_in_and_sees_its_home(page, live_server, role_users, shot, role):
    user = role_users[role]
    login(page, live_server, user.username, "pw-" + user.username)
    assert page.locator("header .who").inner_text().startswith(user.username)
    nav = page.locator("nav[aria-label=main]").inner_text()
    if role == "administrator":
        assert "Admin" in nav
    else:
        assert "Admin" not in nav
    if role == "auditor":
        assert page.locator("#reveal-bar").is_visible()
        assert "Audit log" in nav
    if role in ("viewer", "analyst"):
        assert "Audit log" not in nav
    shot(page, f"home-{role}")
