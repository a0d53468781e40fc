"""The console over the admin listener's TLS (admin_tls) in headless Chromium: sign in,
read the cookies as the browser stored them, open the overview and a group, save weights
(a CSRF-protected control-API write), sign out. Prints one JSON object; the Rust test
(console_tls.rs) asserts on it.

Environment: ADMIN_URL (https://localhost:<port>), ADMIN_TOKEN, GROUP.
"""
import json, os

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from browser import Browser

ADMIN, ADMIN_TOKEN, GROUP = os.environ["ADMIN_URL"], os.environ["ADMIN_TOKEN"], os.environ["GROUP"]
out = {"errors": {}}
browser = Browser(ADMIN, insecure_certs=True)
driver, wait = browser.driver, browser.wait


def cookies():
    return {c["name"]: {k: c.get(k) for k in ("secure", "httpOnly", "sameSite", "path")} for c in driver.get_cookies()}


def main():
    out["who"] = browser.sign_in(ADMIN_TOKEN)
    out["url"] = driver.current_url
    out["secure_context"] = driver.execute_script("return window.isSecureContext")
    out["cookies"] = cookies()
    out["script_sees"] = driver.execute_script("return document.cookie")
    out["errors"]["signin"] = browser.severe()

    browser.goto("#/", "overview", f'.card[data-group="{GROUP}"]')
    wait.until(lambda d: d.execute_script("return window.__overviewReady") is not None)
    out["card"] = driver.find_element(By.CSS_SELECTOR, f'.card[data-group="{GROUP}"]').text
    out["errors"]["overview"] = browser.severe()

    # A write over TLS: the session cookie and the CSRF header travel, the API takes it.
    browser.goto("#/group/" + GROUP, "groupPage", "#save-weights")
    browser.save_weights({"champ": "70", "chall": "30"})
    out["errors"]["group"] = browser.severe()

    driver.find_element(By.CSS_SELECTOR, "#signout button").click()
    wait.until(EC.presence_of_element_located((By.NAME, "token")))
    out["after_signout"] = cookies()
    out["errors"]["signout"] = browser.severe()


try:
    main()
except Exception as e:  # report what was seen so far with the failure
    out["failed"] = f"{type(e).__name__}: {e}"
    out["page"] = driver.find_element(By.TAG_NAME, "body").text[:2000]
finally:
    driver.quit()
print(json.dumps(out))
