"""In real Chromium (issue 19): the new-lead form's officers follow the chosen unit; after a
server-side error the error summary has the focus; revoking asks confirm(); a 复制 button."""

from tests.browser.conftest import sign_in


def test_the_officers_follow_the_unit_and_the_error_summary_is_focused(desktop, live):
    page = desktop
    sign_in(page, live, "admin")
    page.goto(f"{live.url}/leads/new")
    officers = "select[name=primary_officer_id] option"
    assert page.locator(officers).all_inner_texts() == ["—"]
    page.select_option("select[name=township_id]", label="税郭镇")
    assert page.locator(officers).all_inner_texts() == ["—", "b-head", "b-1"]
    page.select_option("select[name=primary_officer_id]", label="b-1")
    page.select_option("select[name=township_id]", label="孟庄镇")
    assert "b-1" not in page.locator(officers).all_inner_texts()
    assert page.locator("select[name=primary_officer_id]").input_value() == "0"
    # a server-side error: the summary has the focus, its link focuses the field
    page.fill("input[name=name]", "某项目")
    page.fill("input[name=company]", "某公司")
    page.fill("input[name=investment_wan]", "很多")
    page.click("form.form-lead button[type=submit]")
    page.wait_for_selector("[data-error-summary]")
    assert page.evaluate("document.activeElement.hasAttribute('data-error-summary')")
    page.click("[data-error-summary] a[data-field=investment_wan]")
    assert page.evaluate("document.activeElement.id") == "investment_wan"


def test_revoking_a_token_asks_and_the_new_one_has_a_copy_button(desktop, live):
    page = desktop
    sign_in(page, live, "a-1")
    page.goto(f"{live.url}/account/tokens")
    page.fill("input[name=name]", "脚本")
    page.click("form[action='/account/tokens'] button[type=submit]")
    copy = page.locator("button[data-copy=new-token]")
    copy.wait_for(state="visible")  # app.js (deferred) shows it once the page has loaded
    secret = page.locator("#new-token").input_value()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.url)
    copy.click()
    page.wait_for_selector(".copy-status:text('已复制')")
    assert secret and page.evaluate("navigator.clipboard.readText()") == secret
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.click("form[data-confirm] button[type=submit]")
    assert asked and "吊销令牌“脚本”" in asked[0]
    assert "已吊销" not in page.content()
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("form[data-confirm] button[type=submit]")
    page.wait_for_selector("text=已吊销")
