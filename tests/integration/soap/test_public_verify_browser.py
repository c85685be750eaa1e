"""The public verification page in a real browser (issue 15 acceptance): Debian's chromium and
chromium-driver, driven by Selenium. A person types a code with spaces and in lower case, sees
the summary, downloads the PDF (the same bytes as GetReceipt), uploads a different PDF and sees
it refused, and types a malformed code and sees the message. A screenshot of each state is saved
under the test's tmp dir. Never skipped: ``scripts/lib/env.sh`` installs the browser.
Uses company notifications 110..112 (see test_public_verification.py for the pool).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from test_public_verification import issue_receipt, mistyped

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                     f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1100,1400"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {
        "download.default_directory": str(downloads), "download.prompt_for_download": False,
        "safebrowsing.enabled": False})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Page.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(downloads)})
    try:
        yield driver
    finally:
        driver.quit()


def _shot(driver: webdriver.Chrome, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 1_000
    return path


def _downloaded(folder: Path, timeout: float = 30.0) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in folder.iterdir() if not p.name.endswith(".crdownload")]
        if done:
            return done[0]
        time.sleep(0.2)
    raise AssertionError(f"nothing downloaded into {folder}")


def _submit(driver: webdriver.Chrome, button_id: str) -> None:
    """Click a form's submit button and wait until the browser has left the page, so that the
    next lookup finds the answer's elements and never the ones of the page before."""
    page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.ID, button_id).click()
    WebDriverWait(driver, 30).until(ec.staleness_of(page))


def test_a_person_verifies_a_receipt_in_the_browser(gateway: RunningGateway, browser: Any,
                                                    tmp_path: Path) -> None:
    issued = issue_receipt(gateway, slice(110, 112))
    wait = WebDriverWait(browser, 30)
    browser.get(gateway.base_url + "/verify?lang=es")
    _shot(browser, tmp_path, "0-empty")

    # A code as a person types it: groups separated by spaces, lower case.
    typed = issued.csvCode.replace("-", " ").lower()
    browser.find_element(By.ID, "code").send_keys(typed)
    assert browser.find_element(By.ID, "code-live").text == "Código bien formado."
    _submit(browser, "submit-code")
    wait.until(ec.presence_of_element_located((By.ID, "summary")))
    assert browser.find_element(By.ID, "registration-number").text == issued.registrationNumber
    assert browser.find_element(By.ID, "item-count").text == "2"
    assert gateway.pki.company_cif in browser.find_element(By.ID, "signer").text
    digest = browser.find_element(By.ID, "pdf-sha256").text
    _shot(browser, tmp_path, "1-summary")

    # The PDF downloaded from the page is the very one GetReceipt serves.
    browser.find_element(By.ID, "download-pdf").click()
    downloaded = _downloaded(tmp_path / "downloads")
    served = gateway.client("company").service.GetReceipt(
        registrationNumber=issued.registrationNumber, format="PDF").pdf
    assert downloaded.read_bytes() == served
    assert hashlib.sha256(served).hexdigest() == digest

    # Upload the same PDF: confirmed. Upload a different one: refused, plainly.
    browser.find_element(By.ID, "pdf-file").send_keys(str(downloaded))
    _submit(browser, "submit-pdf")
    result = wait.until(ec.presence_of_element_located((By.ID, "check-result")))
    assert result.text.startswith("Sí: es el PDF emitido")
    _shot(browser, tmp_path, "2-same-pdf-accepted")

    other = tmp_path / "otro.pdf"
    other.write_bytes(served.replace(b"%%EOF", b"%%EOF\n%", 1))
    browser.find_element(By.ID, "pdf-file").send_keys(str(other))
    _submit(browser, "submit-pdf")
    result = wait.until(ec.presence_of_element_located((By.ID, "check-result")))
    assert result.text.startswith("No: este fichero no es el PDF emitido")
    _shot(browser, tmp_path, "3-other-pdf-refused")

    # A malformed code: told as it is typed, and again by the server on submit.
    browser.get(gateway.base_url + "/verify?lang=en")
    field = browser.find_element(By.ID, "code")
    field.send_keys(mistyped(issued.csvCode))
    assert field.get_attribute("aria-invalid") == "true"
    assert "check character does not match" in browser.find_element(By.ID, "code-live").text
    _shot(browser, tmp_path, "4-malformed-as-typed")
    _submit(browser, "submit-code")
    error = wait.until(ec.presence_of_element_located((By.ID, "code-error")))
    assert error.text.startswith("This code is not valid")
    _shot(browser, tmp_path, "5-malformed-refused")
    print(f"screenshots in {tmp_path}")
