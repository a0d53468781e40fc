"""Drives the console's jobs pages in headless Chromium (Debian's chromium + chromium-driver,
PyPI selenium) against a running switchyard whose trainer is a fake held in `running`.
Prints one JSON object of what it saw; the Rust test (console_jobs.rs) asserts on it.

Environment: ADMIN_URL, ADMIN_TOKEN, VIEWER_TOKEN, GROUP, TRAINER, SHOTS (a directory),
DONE_JOB (a job already enrolled).
"""
import json, os, time

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait
from selenium.webdriver.support import expected_conditions as EC

from browser import Browser

ADMIN, SHOTS = os.environ["ADMIN_URL"], os.environ["SHOTS"]
ADMIN_TOKEN, VIEWER_TOKEN = os.environ["ADMIN_TOKEN"], os.environ["VIEWER_TOKEN"]
GROUP, TRAINER, DONE_JOB = os.environ["GROUP"], os.environ["TRAINER"], os.environ["DONE_JOB"]
out = {"errors": {}}

browser = Browser(ADMIN, timeout=30)
driver, wait, severe, sign_in = browser.driver, browser.wait, browser.severe, browser.sign_in

# Records every state the job page's badge shows; `__seen` itself proves the page was not
# reloaded (a reload would drop it).
OBSERVE = """
window.__seen = [];
const note = () => { const b = document.querySelector('#job-state [data-state]');
  if (b && window.__seen[window.__seen.length - 1] !== b.dataset.state) window.__seen.push(b.dataset.state); };
note();
new MutationObserver(note).observe(document.getElementById('job-state'), {childList: true, subtree: true});
"""


def open_page(hash_, page, ready_css):
    browser.goto(hash_, page, ready_css)


def job_state():
    return driver.execute_script("const b = document.querySelector('#job-state [data-state]'); return b ? b.dataset.state : null")


def shot(name):
    for label, (w, hgt) in {"desktop": (1440, 900), "phone": (390, 844)}.items():
        driver.set_window_size(w, hgt)
        time.sleep(0.5)
        driver.save_screenshot(os.path.join(SHOTS, f"{name}-{label}.png"))
        out.setdefault("overflow", {})[f"{name}-{label}"] = driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    driver.set_window_size(1440, 900)


def finished_job():
    open_page("#/job/" + DONE_JOB, "jobPage", "tr[data-metric]")
    out["done_state"] = job_state()
    out["done_live"] = driver.find_element(By.ID, "job-live").text
    out["done_metrics"] = {r.get_attribute("data-metric"): r.find_elements(By.TAG_NAME, "td")[1].text
                           for r in driver.find_elements(By.CSS_SELECTOR, "tr[data-metric]")}
    out["done_checkpoints"] = [[td.text for td in r.find_elements(By.TAG_NAME, "td")]
                               for r in driver.find_elements(By.CSS_SELECTOR, "tr[data-checkpoint]")]
    out["done_page"] = driver.find_element(By.ID, "main").text
    out["errors"]["finishedJob"] = severe()


def create_job():
    open_page("#/jobs", "jobsPage", "#job-filter")
    out["errors"]["jobsPage"] = severe()
    driver.find_element(By.CSS_SELECTOR, "details.section > summary").click()
    Select(wait.until(EC.element_to_be_clickable((By.ID, "j-group")))).select_by_value(GROUP)
    Select(driver.find_element(By.ID, "j-provider")).select_by_value(TRAINER)
    # Without a base model the server refuses it (422) and the form lists the problem.
    driver.find_element(By.ID, "job-create").click()
    out["refused"] = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#job-form-error li"))).text
    severe()  # the 422 is logged by the browser as a failed resource: expected here
    driver.find_element(By.ID, "j-base_model").send_keys("gpt-4o-mini-2024-07-18")
    hyper = driver.find_element(By.ID, "j-hyper")
    hyper.clear()
    hyper.send_keys('{"n_epochs": 3}')
    driver.find_element(By.ID, "j-start").click()  # unchecked: validate, then wait in draft
    driver.find_element(By.ID, "job-create").click()
    wait.until(lambda d: d.execute_script("return document.body.dataset.page") == "jobPage")
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#job-state [data-state]")))
    driver.execute_script(OBSERVE)
    out["job_id"] = driver.execute_script("return decodeURIComponent(location.hash.split('/')[2])")


def watch_and_cancel():
    # Validated, it waits in draft with a start button; started, it reaches the trainer.
    wait.until(EC.element_to_be_clickable((By.ID, "job-start"))).click()
    wait.until(lambda d: job_state() == "running")
    wait.until(lambda d: "Step 1/10" in d.find_element(By.ID, "job-events").text)
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "[data-chart=job-metrics] canvas")))
    out["in_progress"] = driver.find_element(By.ID, "main").text
    out["metrics_chart"] = driver.find_element(By.CSS_SELECTOR, "[data-chart=job-metrics]").get_attribute("aria-label")
    out["events_in_progress"] = len(driver.find_elements(By.CSS_SELECTOR, "#job-events tr[data-seq]"))
    out["errors"]["jobPage"] = severe()
    shot("job")
    # Cancel, confirmed; the worker tells the trainer and the page follows.
    wait.until(EC.element_to_be_clickable((By.ID, "job-cancel"))).click()
    wait.until(EC.element_to_be_clickable((By.ID, "confirm-ok"))).click()
    wait.until(lambda d: job_state() == "cancelled")
    time.sleep(0.5)
    out["seen"] = driver.execute_script("return window.__seen === undefined ? null : window.__seen")
    out["reloaded"] = out["seen"] is None
    out["events_after_cancel"] = len(driver.find_elements(By.CSS_SELECTOR, "#job-events tr[data-seq]"))
    out["after_cancel"] = driver.find_element(By.ID, "main").text
    out["errors"]["jobPage-cancel"] = severe()
    open_page("#/jobs", "jobsPage", 'tr[data-job="%s"]' % out["job_id"])
    out["list_row"] = driver.find_element(By.CSS_SELECTOR, 'tr[data-job="%s"]' % out["job_id"]).text
    driver.find_element(By.CSS_SELECTOR, "details.section > summary").click()  # the create form, open
    shot("jobs")


def viewer():
    driver.find_element(By.CSS_SELECTOR, "#signout button").click()
    wait.until(EC.presence_of_element_located((By.NAME, "token")))
    out["who_viewer"] = sign_in(VIEWER_TOKEN)
    open_page("#/jobs", "jobsPage", 'tr[data-job="%s"]' % out["job_id"])
    forms = len(driver.find_elements(By.CSS_SELECTOR, "#job-form"))
    buttons = [b.text for b in driver.find_elements(By.CSS_SELECTOR, "main button")]
    open_page("#/job/" + out["job_id"], "jobPage", "#job-events tr[data-seq]")
    buttons += [b.text for b in driver.find_elements(By.CSS_SELECTOR, "main button")]
    out["viewer"] = {"forms": forms, "buttons": buttons}
    out["errors"]["viewer"] = severe()
    out["viewer_forged"] = driver.execute_script("""
        const c = document.cookie.match(/sy_csrf=([^;]*)/)[1];
        return fetch('/api/v1/jobs/%s/cancel', {method: 'POST', headers: {'x-csrf-token': c}}).then(r => r.status);""" % out["job_id"])
    severe()


try:
    sign_in(ADMIN_TOKEN)
    finished_job()
    create_job()
    watch_and_cancel()
    viewer()
except Exception as e:  # report what was reached, with a screenshot of where it stopped
    out["failed"] = f"{type(e).__name__}: {e}"
    try:
        driver.save_screenshot(os.path.join(SHOTS, "failure-jobs.png"))
        out["failure_main"] = driver.find_element(By.TAG_NAME, "body").text[:3000]
        out["failure_log"] = driver.get_log("browser")
    except Exception:
        pass
finally:
    driver.quit()
print(json.dumps(out))
