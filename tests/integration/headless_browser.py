"""Headless Chromium driven by Selenium, for tests that check a web UI as its users see it.

The browser and its driver are Debian's `chromium` and `chromium-driver` (`make test` installs them);
both are given to Selenium by path, so Selenium Manager never downloads anything. A page check is an
explicit wait for what the user would see; when it does not appear, the page's screenshot and text are
saved and the failure names both files.
"""
from __future__ import annotations

import contextlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

INSTALL_HINT = "install chromium and chromium-driver: apt-get install chromium chromium-driver"
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DRIVER_NAME = "chromedriver"
WAIT_SECONDS = 60  # an upper bound for a page of a busy shared machine to show something, not a measurement

T = TypeVar("T")


@dataclass(frozen=True)
class Chromium:
    browser: str
    driver: str


def find_chromium() -> Chromium | None:
    """The installed Chromium (or Chrome) and its chromedriver, or None when either is missing."""
    browser = next(filter(None, map(shutil.which, BROWSER_NAMES)), None)
    driver = shutil.which(DRIVER_NAME)
    return Chromium(browser, driver) if browser and driver else None


@contextlib.contextmanager
def headless_chromium(chromium: Chromium) -> Iterator[WebDriver]:
    """A headless Chromium session with a desktop-sized window, quit afterwards."""
    options = webdriver.ChromeOptions()
    options.binary_location = chromium.browser
    for argument in ("--headless=new", "--no-sandbox",  # root has no sandbox
                     "--disable-dev-shm-usage", "--window-size=1600,1200"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(chromium.driver), options=options)
    try:
        yield driver
    finally:
        driver.quit()


class Page:
    """The browser seen by one check: waits for what should show, and keeps the evidence when it does not."""

    def __init__(self, driver: WebDriver, evidence_dir: Path) -> None:
        self.driver = driver
        self.evidence_dir = evidence_dir

    def open(self, url: str) -> None:
        """Load `url` afresh: going to another `#/route` of the page already open would keep its state."""
        self.driver.get("about:blank")
        self.driver.get(url)

    def shows(self, find: Callable[[WebDriver], T], what: str) -> T:
        """Wait until `find(driver)` returns something truthy and return it; else fail with the evidence.

        `find` may raise Selenium's NoSuchElementException or StaleElementReferenceException while the
        single-page app is still rendering: those mean "not yet".
        """
        try:
            return WebDriverWait(self.driver, WAIT_SECONDS, ignored_exceptions=[StaleElementReferenceException]
                                 ).until(find)
        except TimeoutException:
            pytest.fail(f"the page did not show {what} within {WAIT_SECONDS} s at {self.driver.current_url}; "
                        f"{self._save_evidence(what)}", pytrace=False)

    def _save_evidence(self, what: str) -> str:
        stem = self.evidence_dir / re.sub(r"[^A-Za-z0-9_-]+", "_", what)[:80]
        screenshot, text = stem.with_suffix(".png"), stem.with_suffix(".txt")
        self.driver.save_screenshot(str(screenshot))
        text.write_text(self.driver.find_element(By.TAG_NAME, "body").text)
        return f"screenshot {screenshot}, page text {text}"

