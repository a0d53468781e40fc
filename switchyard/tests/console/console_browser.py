"""Drives the operator console in headless Chromium (Debian's chromium + chromium-driver,
PyPI selenium) against a running switchyard. One browser for every scenario. Prints one
JSON object of what it saw; the Rust test (console_browser.rs) asserts on it.

Environment: ADMIN_URL, DATA_URL, ADMIN_TOKEN, VIEWER_TOKEN, SECRET_KEY, SHOTS (a directory),
TABULAR_GROUP, AB_GROUP.
"""
import json, os, sys, time, urllib.request, urllib.error

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait
from selenium.webdriver.support import expected_conditions as EC

from browser import Browser

ADMIN, DATA = os.environ["ADMIN_URL"], os.environ["DATA_URL"]
ADMIN_TOKEN, VIEWER_TOKEN, SECRET = os.environ["ADMIN_TOKEN"], os.environ["VIEWER_TOKEN"], os.environ["SECRET_KEY"]
SHOTS, AB, TABULAR = os.environ["SHOTS"], os.environ["AB_GROUP"], os.environ["TABULAR_GROUP"]
out = {"errors": {}, "pages": {}, "sources": []}


def http(method, url, body=None, headers=None, token=ADMIN_TOKEN):
    h = dict(headers or {})
    if token:
        h["authorization"] = "Bearer " + token
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h.setdefault("content-type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


browser = Browser(ADMIN)
driver, wait, severe, sign_in = browser.driver, browser.wait, browser.severe, browser.sign_in


def open_page(hash_, page, ready_css):
    browser.goto(hash_, page, ready_css)
    time.sleep(0.3)
    text = driver.find_element(By.ID, "main").text
    out["sources"].append(driver.page_source)
    return text


def shot(name):
    for label, (w, hgt) in {"desktop": (1440, 900), "phone": (390, 844)}.items():
        driver.set_window_size(w, hgt)
        time.sleep(0.4)
        driver.save_screenshot(os.path.join(SHOTS, f"{name}-{label}.png"))
        out.setdefault("overflow", {})[f"{name}-{label}"] = driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    driver.set_window_size(1440, 900)


LITELLM_FILE = {
    "sample_spec": {"litellm_provider": "one of https://docs.litellm.ai/docs/providers", "mode": "one of chat, embedding"},
    "gpt-4o-mini": {"litellm_provider": "openai", "mode": "chat", "max_input_tokens": 128000, "max_output_tokens": 16384,
                    "input_cost_per_token": 1.5e-07, "output_cost_per_token": 6e-07, "supports_function_calling": True},
    "text-embedding-3-small": {"litellm_provider": "openai", "mode": "embedding", "max_input_tokens": 8191,
                               "input_cost_per_token": 2e-08, "output_cost_per_token": 0.0},
    "mystery-model": {"litellm_provider": "openai"},
}


def catalog_pages():
    """The catalog's pages: search, a model's detail, an edit refused as stale then saved,
    an LLM proposal reviewed field by field and saved, a LiteLLM file previewed and imported."""
    model = "kserve/income-xgb"
    open_page("#/models", "modelsPage", "tr[data-model]")
    box = driver.find_element(By.ID, "model-search")
    box.send_keys("income")
    box.submit()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "tr[data-model]")) == 1)
    out["model_search"] = [r.get_attribute("data-model") for r in driver.find_elements(By.CSS_SELECTOR, "tr[data-model]")]
    driver.find_element(By.CSS_SELECTOR, "tr[data-model] a").click()
    wait.until(lambda d: d.execute_script("return document.body.dataset.page") == "modelPage")
    out["model_detail"] = driver.find_element(By.ID, "main").text
    out["sources"].append(driver.page_source)
    out["errors"]["modelPage"] = severe()

    # An edit refused as stale (the entry changed after the page loaded), then saved.
    s, h, body = http("GET", ADMIN + "/api/v1/models/" + model)
    etag = {k.lower(): v for k, v in h.items()}["etag"]
    other = {k: v for k, v in json.loads(body).items() if k not in ("created_at", "updated_at")}
    out["other_edit_model"] = http("PUT", ADMIN + "/api/v1/models/" + model, dict(other, labels={"owner": "elsewhere"}),
                                   {"if-match": etag})[0]
    driver.find_element(By.XPATH, "//summary[h2[text()='Edit']]").click()
    edit = "const t = document.getElementById('model-json'); const e = JSON.parse(t.value); e.labels = {team: 'risk'}; t.value = JSON.stringify(e);"
    driver.execute_script(edit)
    driver.find_element(By.ID, "model-save").click()
    out["stale_model"] = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "main .stale"))).text
    severe()
    driver.find_element(By.CSS_SELECTOR, "main .stale button").click()
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, "main .stale") and d.find_elements(By.ID, "model-json"))
    wait.until(lambda d: "elsewhere" in d.find_element(By.ID, "main").text)
    driver.find_element(By.XPATH, "//summary[h2[text()='Edit']]").click()
    driver.execute_script(edit)
    driver.find_element(By.ID, "model-save").click()
    wait.until(lambda d: "saved" in d.find_element(By.ID, "toast").text)
    out["model_labels_after"] = json.loads(http("GET", ADMIN + "/api/v1/models/" + model)[2])["labels"]

    # An LLM-assisted proposal, reviewed field by field and saved.
    open_page("#/models/propose", "proposePage", "#t-source")
    driver.find_element(By.ID, "t-source").send_keys('{"model": "income-xgb", "card": "XGBoost income classifier, AUC 0.91"}')
    driver.find_element(By.ID, "t-hints").send_keys('{"provider": "kserve"}')
    Select(driver.find_element(By.ID, "t-group")).select_by_value(os.environ["LLM_GROUP"])
    driver.find_element(By.ID, "t-run").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#review tr[data-field]")))
    out["review"] = {r.get_attribute("data-field"): {"take": r.find_element(By.CSS_SELECTOR, "input").is_selected(),
                                                      "text": r.text}
                     for r in driver.find_elements(By.CSS_SELECTOR, "#review tr[data-field]")}
    out["review_text"] = driver.find_element(By.ID, "review").text
    out["errors"]["proposePage"] = severe()
    driver.find_element(By.ID, "review-save").click()
    wait.until(lambda d: d.execute_script("return document.body.dataset.page") == "modelPage")
    out["after_review"] = json.loads(http("GET", ADMIN + "/api/v1/models/" + model)[2])

    # A LiteLLM catalog file: every row's outcome in a dry run, then the import.
    path = os.path.join(SHOTS, "litellm-catalog.json")
    with open(path, "w") as f:
        json.dump(LITELLM_FILE, f)
    open_page("#/models/import", "importFilePage", "#import-file")
    driver.find_element(By.ID, "import-file").send_keys(path)
    out["import_dry"] = wait.until(EC.presence_of_element_located((By.ID, "import-counts"))).text
    out["import_rows"] = {r.get_attribute("data-row"): r.text for r in driver.find_elements(By.CSS_SELECTOR, "tr[data-row]")}
    out["before_import"] = http("GET", ADMIN + "/api/v1/models/openai/gpt-4o-mini")[0]
    wait.until(EC.element_to_be_clickable((By.ID, "import-run"))).click()
    wait.until(lambda d: d.find_element(By.ID, "import-counts").text.startswith("Imported"))
    out["import_done"] = driver.find_element(By.ID, "import-counts").text
    out["errors"]["importFilePage"] = severe()
    entry = json.loads(http("GET", ADMIN + "/api/v1/models/openai/gpt-4o-mini")[2])
    out["imported_entry"] = {"pricing": entry["pricing"], "limits": entry["limits"], "kind": entry["kind"]}
    s, _, body = http("GET", ADMIN + "/api/v1/audit?limit=50")
    out["catalog_audit"] = [(e["actor"], e["action"], e["target"]) for e in json.loads(body) if e["action"].startswith("model.")]


def main():
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    out["who_admin"] = sign_in(ADMIN_TOKEN)
    severe()  # drop the sign-in page's entries (none expected; the 303 is not an error)

    # Overview's first load: bytes transferred and time to interactive / to every card filled.
    driver.get(ADMIN + "/ui/")
    wait.until(lambda d: d.execute_script("return window.__overviewReady") is not None)
    out["perf"] = driver.execute_script("""
        const nav = performance.getEntriesByType('navigation')[0];
        const res = performance.getEntriesByType('resource');
        return {transfer: nav.transferSize + res.reduce((a, r) => a + r.transferSize, 0),
                encoded: nav.encodedBodySize + res.reduce((a, r) => a + r.encodedBodySize, 0),
                requests: res.length + 1, dom_interactive: nav.domInteractive,
                dom_content_loaded: nav.domContentLoadedEventEnd, cards_shown: window.__overviewShown,
                cards_filled: window.__overviewReady,
                experiment_ms: res.filter(r => r.name.includes('/experiment')).map(r => Math.round(r.duration))};""")
    out["cards"] = len(driver.find_elements(By.CSS_SELECTOR, ".card"))
    out["overview_kpis"] = driver.find_element(By.CSS_SELECTOR, f'.card[data-group="{AB}"]').text
    out["errors"]["overview"] = severe()
    shot("overview")

    # Every page renders with real data and no console error.
    pages = [("#/group/" + AB, "groupPage", "#verdict"), ("#/providers", "providersPage", "tr[data-provider]"),
             ("#/models", "modelsPage", "h1"), ("#/inferences", "inferencesPage", "tr[data-request]"),
             ("#/audit", "auditPage", "tbody tr"), ("#/config", "configPage", "tr[data-version]"),
             ("#/jobs", "jobsPage", "#job-filter")]
    for hash_, page, ready in pages:
        out["pages"][page] = open_page(hash_, page, ready)
        out["errors"][page] = severe()
    driver.get(ADMIN + "/ui/#/group/" + AB)
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "[data-chart^=interval] canvas")))
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "[data-chart=series-errors] canvas")))
    out["series"] = {k: driver.find_element(By.CSS_SELECTOR, f"[data-chart=series-{k}]").get_attribute("aria-label")
                     for k in ("latency", "errors")}
    shot("group")

    # An inference opened from the browser shows its attributions chart.
    driver.get(ADMIN + "/ui/#/inferences")
    sel = wait.until(EC.presence_of_element_located((By.ID, "f-group")))
    Select(sel).select_by_value(TABULAR)
    driver.find_element(By.CSS_SELECTOR, "form[role=search] button[type=submit]").click()
    first = "const r = document.querySelector('tr[data-request]'); return r ? r.textContent : ''"
    wait.until(lambda d: TABULAR in d.execute_script(first) and "g17" not in d.find_element(By.CSS_SELECTOR, "main tbody").text)
    driver.execute_script("document.querySelector('tr[data-request] a').click()")
    wait.until(lambda d: d.execute_script("return document.body.dataset.page") == "inferencePage")
    canvas = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "[data-chart=attribution] canvas")))
    chart = driver.find_element(By.CSS_SELECTOR, "[data-chart=attribution]")
    out["attribution"] = {"canvas": canvas.size, "label": chart.get_attribute("aria-label")}
    out["inference_text"] = driver.find_element(By.ID, "main").text
    out["sources"].append(driver.page_source)
    out["errors"]["inferencePage"] = severe()
    shot("inference")

    # A weight changed in the group page; the χ² of the data plane's split is the Rust side's.
    driver.get(ADMIN + "/ui/#/group/" + AB)
    wait.until(EC.presence_of_element_located((By.ID, "save-weights")))
    browser.save_weights({"alpha": "20", "beta": "80"})
    counts = {}
    for i in range(600):
        s, h, _ = http("POST", DATA + "/v1/chat/completions",
                       {"model": AB, "messages": [{"role": "user", "content": "hi"}]}, token=None)
        m = {k.lower(): v for k, v in h.items()}.get("x-switchyard-member")
        counts[m] = counts.get(m, 0) + 1
    out["split_after"] = counts
    s, _, body = http("GET", ADMIN + f"/api/v1/groups/{AB}")
    out["weights_after"] = {m["name"]: m["weight"] for m in json.loads(body)["config"]["members"]}

    # Promote from the page, then roll back from the page.
    driver.get(ADMIN + "/ui/#/group/" + AB)
    wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, 'button[data-action=promote][data-member=beta]'))).click()
    wait.until(EC.element_to_be_clickable((By.ID, "confirm-ok"))).click()
    wait.until(lambda d: "promoted" in d.find_element(By.ID, "toast").text)
    s, _, body = http("GET", ADMIN + f"/api/v1/groups/{AB}")
    out["after_promote"] = {m["name"]: m["role"] for m in json.loads(body)["config"]["members"]}
    wait.until(EC.element_to_be_clickable((By.ID, "rollback"))).click()
    wait.until(EC.element_to_be_clickable((By.ID, "confirm-ok"))).click()
    wait.until(lambda d: "Rolled back" in d.find_element(By.ID, "toast").text)
    s, _, body = http("GET", ADMIN + f"/api/v1/groups/{AB}")
    out["after_rollback"] = {m["name"]: m["role"] for m in json.loads(body)["config"]["members"]}
    s, _, body = http("GET", ADMIN + "/api/v1/audit?limit=20")
    out["audit_actions"] = [(e["actor"], e["action"]) for e in json.loads(body)]

    # A stale page: someone else changes the group; saving shows what changed.
    s, h, body = http("GET", ADMIN + f"/api/v1/groups/{AB}")
    etag = {k.lower(): v for k, v in h.items()}["etag"]
    driver.get(ADMIN + "/ui/#/config")
    wait.until(lambda d: d.execute_script("return document.body.dataset.page") == "configPage")
    driver.get(ADMIN + "/ui/#/group/" + AB)
    loaded = "config version %d" % json.loads(body)["version"]
    wait.until(lambda d: loaded in d.find_element(By.ID, "main").text)
    wait.until(EC.presence_of_element_located((By.ID, "save-weights")))
    out["other_edit"] = http("PUT", ADMIN + f"/api/v1/groups/{AB}/weights", {"weights": {"alpha": 33}}, {"if-match": etag})[0]
    # Live: the open page announces the newer version by itself (its inputs stay as typed).
    out["version_notice"] = WebDriverWait(driver, 15).until(EC.visibility_of_element_located((By.ID, "version-changed"))).text
    driver.find_element(By.ID, "save-weights").click()
    stale = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".stale")))
    out["stale_text"] = stale.text
    severe()  # the 412 is logged by the browser as a failed resource: expected here

    # A stale config rollback: the config changed after the versions page was loaded.
    open_page("#/config", "configPage", "button[data-action=rollback]")
    s, h, body = http("GET", ADMIN + f"/api/v1/groups/{AB}")
    etag = {k.lower(): v for k, v in h.items()}["etag"]
    out["other_edit_config"] = http("PUT", ADMIN + f"/api/v1/groups/{AB}/weights", {"weights": {"alpha": 44}}, {"if-match": etag})[0]
    driver.find_element(By.CSS_SELECTOR, "button[data-action=rollback]").click()
    wait.until(EC.element_to_be_clickable((By.ID, "confirm-ok"))).click()
    out["stale_rollback"] = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "main .stale"))).text
    severe()

    # Live: a change made elsewhere appears at the top of the open audit page, no reload.
    open_page("#/audit", "auditPage", "tr[data-audit]")
    driver.execute_script("window.__auditMarker = 1")
    top = driver.find_element(By.CSS_SELECTOR, "tr[data-audit]").get_attribute("data-audit")
    s, h, _ = http("GET", ADMIN + f"/api/v1/groups/{AB}")
    etag = {k.lower(): v for k, v in h.items()}["etag"]
    http("PUT", ADMIN + f"/api/v1/groups/{AB}/weights", {"weights": {"alpha": 45}}, {"if-match": etag})
    WebDriverWait(driver, 20).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "tr[data-audit]").get_attribute("data-audit") != top)
    out["audit_live"] = {"top": driver.find_element(By.CSS_SELECTOR, "tr[data-audit]").text,
                         "marker": driver.execute_script("return window.__auditMarker === 1")}

    # A provider with a key made in the dialog; the key is never shown again anywhere.
    driver.get(ADMIN + "/ui/#/providers")
    wait.until(EC.element_to_be_clickable((By.ID, "new-provider"))).click()
    driver.find_element(By.ID, "p-name").send_keys("sealed-prov")
    Select(driver.find_element(By.ID, "p-kind")).select_by_value("openai")
    driver.find_element(By.ID, "p-base_url").send_keys("http://127.0.0.1:9/v1")
    driver.find_element(By.ID, "p-api_key").send_keys(SECRET)
    driver.find_element(By.ID, "p-save").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-provider="sealed-prov"]')))
    out["provider_row"] = driver.find_element(By.CSS_SELECTOR, 'tr[data-provider="sealed-prov"]').text
    driver.find_element(By.ID, "provider-search").send_keys("sealed")
    out["search_rows"] = len(driver.find_elements(By.CSS_SELECTOR, "tr[data-provider]"))

    # A stale provider edit: the provider changes while its dialog is open; saving shows
    # the provider as loaded against the provider now, in the dialog.
    driver.execute_script("document.querySelector('tr[data-provider=\"sealed-prov\"] button').click()")
    wait.until(EC.element_to_be_clickable((By.ID, "p-save")))
    s, h, _ = http("GET", ADMIN + "/api/v1/providers/sealed-prov")
    etag = {k.lower(): v for k, v in h.items()}["etag"]
    out["other_edit_provider"] = http("PUT", ADMIN + "/api/v1/providers/sealed-prov", {
        "kind": "openai", "base_url": "http://127.0.0.1:9/v1", "headers": {"x-team": "blue"}}, {"if-match": etag})[0]
    driver.find_element(By.ID, "p-save").click()
    out["stale_provider"] = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "dialog .stale"))).text
    severe()
    driver.find_element(By.CSS_SELECTOR, "dialog .stale button").click()  # reload: closes the dialog, re-reads
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, "dialog"))
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-provider="kserve"] button[data-action=discover]')))

    # An edit in the dialog keeps what the YAML entry has besides the dialog's changes.
    driver.execute_script("document.querySelector('tr[data-provider=\"llm\"] button').click()")
    wait.until(EC.element_to_be_clickable((By.ID, "p-save")))
    out["llm_dialog"] = {k: driver.find_element(By.ID, "p-" + k).get_attribute("value")
                         for k in ("max_in_flight", "pool_max_idle_per_host", "base_url")}
    box = driver.find_element(By.ID, "p-max_in_flight")
    box.clear()
    box.send_keys("16")
    driver.find_element(By.ID, "p-save").click()
    wait.until(lambda d: "llm saved" in d.find_element(By.ID, "toast").text)
    out["llm_after_edit"] = json.loads(http("GET", ADMIN + "/api/v1/providers/llm")[2])
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-provider="kserve"] button[data-action=discover]')))

    # Discover what the OIP provider serves and import it into the catalog from the page.
    driver.execute_script("const s = document.getElementById('provider-search'); s.value = ''; s.dispatchEvent(new Event('input'))")
    driver.execute_script("document.querySelector('tr[data-provider=\"kserve\"] button[data-action=discover]').click()")
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#discover tr[data-discovered]")))
    out["discovered"] = driver.find_element(By.ID, "discover").text
    driver.find_element(By.ID, "import-selected").click()
    wait.until(lambda d: "Imported from kserve" in d.find_element(By.ID, "toast").text)
    out["imported_toast"] = driver.find_element(By.ID, "toast").text
    out["models_after_import"] = open_page("#/models", "modelsPage", "h1")
    catalog_pages()
    for hash_, page, ready in pages + [("#/", "overview", ".card")]:
        open_page(hash_, page, ready)
    api_texts = []
    s, _, versions = http("GET", ADMIN + "/api/v1/config/versions")
    for path in ["/providers", "/providers/sealed-prov", "/audit?limit=100", "/config/versions", "/groups",
                 "/config/versions/%d" % json.loads(versions)["current"]]:
        api_texts.append(http("GET", ADMIN + "/api/v1" + path)[2])
    out["secret_in_pages"] = sum(SECRET in s for s in out["sources"])
    out["secret_in_api"] = sum(SECRET in t for t in api_texts)
    out["pages_checked"] = len(out["sources"])

    # A write without the CSRF header is refused even with a valid session cookie.
    out["csrf_less"] = driver.execute_script("""
        return fetch('/api/v1/groups/%s/pause', {method: 'POST', headers: {'if-match': '*'}}).then(r => r.status);""" % AB)
    out["csrf_with"] = driver.execute_script("""
        const c = document.cookie.match(/sy_csrf=([^;]*)/)[1];
        return fetch('/api/v1/groups/%s', {headers: {'x-csrf-token': c}}).then(r => r.status);""" % AB)
    severe()

    # Sign out, then a viewer: no write controls, and a forged write is 403.
    old = driver.get_cookie("sy_session")["value"]
    out["before_signout"] = http("GET", ADMIN + "/ui/session", headers={"cookie": "sy_session=" + old}, token=None)[0]
    driver.find_element(By.CSS_SELECTOR, "#signout button").click()
    wait.until(EC.presence_of_element_located((By.NAME, "token")))
    out["after_signout"] = http("GET", ADMIN + "/ui/session", headers={"cookie": "sy_session=" + old}, token=None)[0]
    out["who_viewer"] = sign_in(VIEWER_TOKEN)
    open_page("#/group/" + AB, "groupPage", "#verdict")
    out["viewer_controls"] = {
        "weight_inputs": len(driver.find_elements(By.CSS_SELECTOR, "input[type=number]")),
        "buttons": [b.text for b in driver.find_elements(By.CSS_SELECTOR, "main button")],
    }
    open_page("#/providers", "providersPage", "tr[data-provider]")
    out["viewer_controls"]["provider_buttons"] = [b.text for b in driver.find_elements(By.CSS_SELECTOR, "main button")]
    open_page("#/jobs", "jobsPage", "#job-filter")
    out["viewer_controls"]["provider_buttons"] += [b.text for b in driver.find_elements(By.CSS_SELECTOR, "main button")]
    out["viewer_controls"]["job_forms"] = len(driver.find_elements(By.ID, "job-form"))
    open_page("#/models", "modelsPage", "tr[data-model]")
    out["viewer_controls"]["model_links"] = len(driver.find_elements(By.CSS_SELECTOR, "#import-file-link, #propose-link"))
    open_page("#/model/kserve/income-xgb", "modelPage", "tr[data-field]")
    out["viewer_controls"]["model_editor"] = len(driver.find_elements(By.CSS_SELECTOR, "#model-json, #model-save, #model-delete"))
    out["viewer_errors"] = severe()
    out["viewer_forged"] = driver.execute_script("""
        const c = document.cookie.match(/sy_csrf=([^;]*)/)[1];
        return fetch('/api/v1/groups/%s/weights', {method: 'PUT', headers: {'x-csrf-token': c, 'if-match': '*',
          'content-type': 'application/json'}, body: JSON.stringify({weights: {alpha: 1}})}).then(r => r.status);""" % AB)
    severe()

    # Failed sign-ins are throttled per address (last: it locks this address for a minute).
    statuses = []
    for _ in range(7):
        statuses.append(http("POST", ADMIN + "/ui/signin", b"token=wrong",
                             {"content-type": "application/x-www-form-urlencoded"}, token=None)[0])
    out["signin_statuses"] = statuses
    out["throttled_good_token"] = http("POST", ADMIN + "/ui/signin", ("token=" + ADMIN_TOKEN).encode(),
                                       {"content-type": "application/x-www-form-urlencoded"}, token=None)[0]
    del out["sources"]


try:
    main()
except Exception as e:  # report what was reached, with a screenshot of where it stopped
    out["failed"] = f"{type(e).__name__}: {e}"
    out.pop("sources", None)
    try:
        driver.save_screenshot(os.path.join(SHOTS, "failure.png"))
        out["failure_main"] = driver.find_element(By.TAG_NAME, "body").text[:3000]
        out["failure_log"] = driver.get_log("browser")
    except Exception:
        pass
finally:
    driver.quit()
print(json.dumps(out))
