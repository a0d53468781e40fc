"""What every console browser script shares: headless Chromium (Debian's chromium +
chromium-driver) driven by PyPI selenium, the console's sign-in, and page waits.
The scripts run by path (switchyard_testkit::browser::run_script), so they import this.
"""
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from selenium.webdriver.support import expected_conditions as EC


class Browser:
    """One headless Chromium at 1440x900 on the console at `admin` (its base URL)."""

    def __init__(self, admin, timeout=20, insecure_certs=False):
        self.admin = admin
        opts = webdriver.ChromeOptions()
        opts.binary_location = "/usr/bin/chromium"
        for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1440,900"]:
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        # A self-signed admin certificate: still https (a secure context, Secure cookies).
        opts.accept_insecure_certs = insecure_certs
        service = webdriver.ChromeService(executable_path="/usr/bin/chromedriver")
        self.driver = webdriver.Chrome(options=opts, service=service)
        self.wait = WebDriverWait(self.driver, timeout)

    def severe(self):
        """The console errors logged since the last call."""
        return [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]

    def sign_in(self, token):
        """Signs in through the form; returns the header's "name (role)"."""
        self.driver.get(self.admin + "/ui/")
        field = self.wait.until(EC.presence_of_element_located((By.NAME, "token")))
        field.send_keys(token)
        field.submit()
        self.wait.until(lambda d: "(" in d.find_element(By.ID, "who").text)
        return self.driver.find_element(By.ID, "who").text

    def goto(self, hash_, page, ready_css):
        """Opens `#/…` and waits for the page's name and an element it renders with data."""
        self.driver.get(self.admin + "/ui/" + hash_)
        self.wait.until(lambda d: d.execute_script("return document.body.dataset.page") == page)
        self.wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ready_css)))

    def save_weights(self, weights):
        """On a group's page: types each member's weight and saves them."""
        for member, w in weights.items():
            box = self.driver.find_element(By.NAME, "weight-" + member)
            box.clear()
            box.send_keys(w)
        self.driver.find_element(By.ID, "save-weights").click()
        self.wait.until(lambda d: "Weights saved" in d.find_element(By.ID, "toast").text)
