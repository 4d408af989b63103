"""After a server-side validation error a form summarises its errors at its top, linked to the
fields and focused (issue 19)."""

import re

from crm.clock import today


def _summary(text):
    match = re.search(r'<div class="alert alert-error error-summary" role="alert"[^>]*>.*?</div>',
                      text, re.S)
    assert match, "no error summary"
    return match.group(0)


def test_the_lead_form_summarises_its_errors_with_links_to_the_fields(client, auth, world):
    auth.login("a-1")
    text = client.post("/leads/new", data={
        "name": "", "company": "某公司", "investment_wan": "很多", "source": "referral",
        "stage": "contact", "created_on": today().isoformat(), "primary_officer_id": "0",
        "contact_phone": "12345"}).get_data(as_text=True)
    summary = _summary(text)
    assert "autofocus" in summary and 'tabindex="-1"' in summary
    links = re.findall(r'<a href="#([\w-]+)"', summary)
    assert links == ["name", "investment_wan", "contact_phone"]
    for field_id in links:  # each link leads to a field of the form
        assert f'id="{field_id}"' in text
    assert "未能保存，请修改以下 3 处" in summary
    # the summary comes before the first field
    assert text.index("error-summary") < text.index('id="name"')


def test_no_summary_without_errors_and_one_on_other_forms(client, auth, world):
    auth.login("a-1")
    assert "error-summary" not in client.get("/leads/new").get_data(as_text=True)
    text = client.post(f"/leads/{world.lead_a.id}/visits", data={
        "visited_on": today().isoformat(), "kind": "meeting", "summary": ""}).get_data(
        as_text=True)
    assert 'href="#summary"' in _summary(text)
    auth.logout()
    auth.login("admin")
    text = client.post("/admin/users/new", data={"username": ""}).get_data(as_text=True)
    assert 'href="#username"' in _summary(text)
