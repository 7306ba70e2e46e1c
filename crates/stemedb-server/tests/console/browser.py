#!/usr/bin/env python3
"""Drives the StemeDB console in headless Chromium (selenium + chromedriver).

Started by crates/stemedb-server/tests/console.rs against a real, seeded
stemedb-api. Every check compares what the page shows with what the HTTP API
answers (and with values the seed makes certain). Exits non-zero on the first
failure, after saving a screenshot of the failing page next to the others.
"""

import argparse
import json
import statistics
import sys
import time
import traceback
import urllib.parse
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

DESKTOP = (1280, 900)
PHONE = (375, 812)


class Console:
    def __init__(self, args):
        self.base = args.base.rstrip("/")
        self.seed = json.loads(Path(args.seed).read_text())
        self.shots = Path(args.shots)
        self.shots.mkdir(parents=True, exist_ok=True)
        opts = webdriver.ChromeOptions()
        opts.binary_location = args.chromium
        for flag in [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--lang=en-US",
            f"--user-data-dir={args.profile}",
            f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
        ]:
            opts.add_argument(flag)
        self.driver = webdriver.Chrome(service=Service(executable_path=args.driver), options=opts)
        self.driver.set_page_load_timeout(30)
        self.width = DESKTOP[0]
        self.metrics(*DESKTOP)

    # ---------- plumbing ----------

    def api(self, path, method="GET", body=None, token=None):
        req = urllib.request.Request(self.base + path, method=method)
        if body is not None:
            req.data = json.dumps(body).encode()
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read().decode())

    def metrics(self, width, height, mobile=False):
        self.width = width
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
        )

    def go(self, path):
        self.driver.get(self.base + path)

    def wait(self, cond, what, timeout=15):
        """Polls `cond` until truthy. Elements replaced mid-read (the page
        re-renders) and not-yet-present elements count as "not yet"."""
        deadline = time.time() + timeout
        last = None
        while True:
            try:
                v = cond()
                if v:
                    return v
            except (StaleElementReferenceException, NoSuchElementException, AssertionError) as e:
                last = e
            if time.time() > deadline:
                detail = f" (last error: {str(last).strip()[:300]})" if last else ""
                raise AssertionError(f"timed out waiting for {what}{detail}")
            time.sleep(0.1)

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def css(self, sel):
        return self.driver.find_elements(By.CSS_SELECTOR, sel)

    def one(self, sel):
        els = self.css(sel)
        assert els, f"no element matches {sel!r} on {self.driver.current_url}"
        return els[0]

    def texts(self, sel):
        """textContent of every match, read in one step (no stale references)."""
        return self.js("return [...document.querySelectorAll(arguments[0])].map(e => e.textContent.trim())", sel)

    def text(self, sel):
        return self.one(sel).text.strip()

    def shot(self, name, full=True):
        """Screenshot of the whole page (up to 2,400 px tall) at the current width."""
        height = PHONE[1] if self.width == PHONE[0] else DESKTOP[1]
        if full:
            h = self.js("return document.documentElement.scrollHeight")
            height = max(height, min(int(h), 2400))
        self.metrics(self.width, height, self.width == PHONE[0])
        time.sleep(0.2)
        self.driver.save_screenshot(str(self.shots / f"{name}.png"))
        self.metrics(self.width, PHONE[1] if self.width == PHONE[0] else DESKTOP[1], self.width == PHONE[0])

    def assert_not_pwned(self):
        pwned = self.js("return window.__pwned === undefined ? null : String(window.__pwned)")
        assert pwned is None, f"injected script ran: window.__pwned = {pwned}"
        scripts = self.js("return document.querySelectorAll('main script, main img, main b').length")
        assert scripts == 0, f"{scripts} injected elements in <main>"

    def subject_page(self, subject, query=""):
        self.go("/console/subjects/" + urllib.parse.quote(subject, safe="") + query)
        self.wait(lambda: self.js("return document.querySelector('main').dataset.renderMs || null")
                  or self.css(".empty"), f"subject page {subject!r}")

    def lens(self, predicate, lens):
        sel = f'section[data-predicate="{predicate}"] article[data-lens="{lens}"]'
        return self.one(sel)

    def lens_value(self, predicate, lens):
        return self.lens(predicate, lens).find_element(By.CSS_SELECTOR, ".lens-value").text.strip()

    # ---------- checks ----------

    def check_search_and_keyboard(self):
        self.go("/")
        self.wait(lambda: len(self.css("#subject-list li")) > 0, "subject list")
        names = self.texts("#subject-list a")
        assert "drug:semaglutide" in names, names
        # Landmarks and labels.
        for sel in ["header", "nav", "main", "footer", "form[role=search]"]:
            assert self.css(sel), f"no {sel} landmark"
        unlabeled = self.js("""
            return [...document.querySelectorAll('input, select, textarea')].filter(i =>
              !(i.labels && i.labels.length) && !i.getAttribute('aria-label')).map(i => i.id || i.name);""")
        assert unlabeled == [], f"inputs without a label: {unlabeled}"
        # Keyboard: Tab from the top of the page reaches the search field.
        self.js("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
        body = self.one("body")
        reached = None
        for i in range(12):
            body.send_keys(Keys.TAB) if i == 0 else self.driver.switch_to.active_element.send_keys(Keys.TAB)
            if self.driver.switch_to.active_element.get_attribute("id") == "search":
                reached = i + 1
                break
        assert reached, "Tab never reached the search field"
        outline = self.js("return getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none", "focused search field has no visible focus style"
        box = self.driver.switch_to.active_element
        box.send_keys("page:")
        box.send_keys(Keys.ENTER)
        self.wait(lambda: self.texts("#subject-list a") == [f"page:0{i}" for i in range(5)],
                  "prefix search results")
        assert "prefix=page%3A" in self.driver.current_url, self.driver.current_url
        # Enter on a focused result link opens the subject.
        self.one("#subject-list a").send_keys(Keys.ENTER)
        self.wait(lambda: self.css("h1 .subject-name") and self.text("h1 .subject-name") == "page:00",
                  "subject opened from the keyboard")
        print(f"ok search and keyboard (Tab x{reached} reaches the search field)")

    def check_pagination(self):
        self.go("/?prefix=page:&limit=2")
        page = lambda: self.texts("#subject-list a")
        self.wait(lambda: page() == ["page:00", "page:01"], "page 1")
        assert self.one("#prev-page").get_attribute("disabled") is not None
        self.one("#next-page").click()
        self.wait(lambda: page() == ["page:02", "page:03"], "page 2")
        self.one("#next-page").click()
        self.wait(lambda: page() == ["page:04"], "page 3")
        self.wait(lambda: self.one("#next-page").get_attribute("disabled") is not None, "last page")
        self.one("#prev-page").click()
        self.wait(lambda: page() == ["page:02", "page:03"], "back to page 2")
        self.go("/?prefix=zzz-nothing")
        self.wait(lambda: "No subject starts with" in self.text("#subject-count"), "empty search state")
        print("ok pagination via /v1/subjects cursors")

    def check_subject_lenses(self):
        subject = "drug:semaglutide"
        self.subject_page(subject)
        self.assert_not_pwned()
        assert self.text("h1 .subject-name") == subject
        # Values the seed makes certain.
        expect = {"recency": "hair loss", "consensus": "nausea", "confidence": "nausea", "authority": "nausea"}
        for lens, value in expect.items():
            got = self.lens_value("side_effect", lens)
            assert got == value, f"{lens} shows {got!r}, want {value!r}"
        # Every lens card matches the API: value, confidence, conflict, winners.
        for lens in ["recency", "authority", "consensus", "confidence", "skeptic", "layered"]:
            q = urllib.parse.urlencode({"subject": subject, "predicate": "side_effect", "lens": lens})
            res = self.api(f"/v1/query?{q}")["results"][0]["resolution"]
            card = self.lens("side_effect", lens)
            conf = card.find_element(By.CSS_SELECTOR, ".lens-confidence").text
            confl = card.find_element(By.CSS_SELECTOR, ".lens-conflict").text
            assert conf == f"{res['confidence']:.2f}", f"{lens} confidence {conf} vs {res['confidence']}"
            assert confl == f"{res['conflict']:.2f}", f"{lens} conflict {confl} vs {res['conflict']}"
            meter = card.find_element(By.CSS_SELECTOR, "[role=meter]").get_attribute("aria-valuenow")
            assert meter == f"{res['conflict']:.2f}", f"{lens} meter {meter}"
            if lens == "skeptic":
                got = card.find_element(By.CSS_SELECTOR, ".lens-value").text
                assert got == res["status"], f"skeptic status {got} vs {res['status']}"
            elif res.get("value"):
                assert self.lens_value("side_effect", lens) == str(res["value"]["value"]), lens
            hrefs = [a.get_attribute("href") for a in card.find_elements(By.CSS_SELECTOR, ".winners a")]
            for w in res.get("winners", [])[:3]:
                assert any(h.endswith("/console/records/" + w) for h in hrefs), f"{lens} winner {w} not linked"
        assert float(self.text('section[data-predicate="side_effect"] article[data-lens="consensus"] .lens-conflict')) > 0, \
            "the contested predicate shows no conflict"
        # The candidates: provenance of each row, retracted row marked and escaped.
        rows = self.css('section[data-predicate="side_effect"] tr[data-id]')
        assert len(rows) == 4, f"{len(rows)} candidate rows"
        fda = self.one(f'tr[data-id="{self.seed["fda"]}"]')
        cells = [td.text for td in fda.find_elements(By.CSS_SELECTOR, "td")]
        assert cells[0] == "nausea" and cells[1] == "fda" and cells[2] == "0.90", cells
        assert cells[3].startswith("0 regulatory"), cells
        assert cells[4].startswith("2023-11-14 22:13:20"), cells
        assert cells[5] == "unsigned", cells
        self.wait(lambda: fda.find_element(By.CSS_SELECTOR, ".votes").text == "+1 / −0", "vote count of the FDA claim")
        bad = self.one(f'tr[data-id="{self.seed["retracted"]}"]')
        assert "retracted" in bad.get_attribute("class")
        assert bad.find_element(By.CSS_SELECTOR, "td").text.startswith('<img src=x onerror="window.__pwned=2">'), \
            bad.find_element(By.CSS_SELECTOR, "td").text
        signed = self.one(f'tr[data-id="{self.seed["signed"]}"]')
        assert "signed" in [td.text for td in signed.find_elements(By.CSS_SELECTOR, "td")], "signed claim not marked"
        self.assert_not_pwned()
        assert not self.css(".actions"), "write buttons shown without a key"
        self.shot("subject-desktop")
        print("ok subject page: six lenses match the API, provenance, votes, retraction, escaping")

    def check_as_of(self):
        self.subject_page("drug:semaglutide")
        slider = self.one("#as-of")
        slider.send_keys(Keys.HOME)
        asof = lambda: self.js("return document.querySelector('main').dataset.asOf || null")
        self.wait(lambda: asof() == "1700000000000", "as_of at the first claim")
        self.wait(lambda: self.lens_value("side_effect", "recency") == "nausea", "recency at the first claim")
        assert "as_of=1700000000000" in self.driver.current_url
        later = self.one(f'tr[data-id="{self.seed["forum"]}"]').get_attribute("class") or ""
        assert "later" in later, "a claim after as_of is not marked"
        # Right arrow twice: 1700000050000, then 1700000100000 (the trial).
        slider.send_keys(Keys.ARROW_RIGHT)
        slider.send_keys(Keys.ARROW_RIGHT)
        self.wait(lambda: asof() == "1700000100000", "as_of at the trial")
        winners = [a.get_attribute("href") for a in self.lens("side_effect", "recency").find_elements(By.CSS_SELECTOR, ".winners a")]
        assert winners and winners[0].endswith(self.seed["trial"]), winners
        self.js("document.querySelector('section[data-predicate=side_effect]').scrollIntoView(); window.scrollBy(0, -110)")
        self.driver.save_screenshot(str(self.shots / "subject-as-of-desktop.png"))
        slider.send_keys(Keys.END)
        self.wait(lambda: asof() == "latest", "back to latest")
        self.wait(lambda: self.lens_value("side_effect", "recency") == "hair loss", "recency at latest")
        # A deep link with as_of between two stops.
        self.subject_page("drug:semaglutide", "?as_of=1700000150000")
        self.wait(lambda: self.lens_value("side_effect", "recency") == "nausea", "recency from an as_of deep link")
        assert "2023-11-14 22:15:50" in self.text("#as-of-value"), self.text("#as-of-value")
        print("ok as_of slider re-resolves (recency: nausea before the forum post, hair loss after)")

    def check_odd_subjects(self):
        for i, subject in enumerate(self.seed["odd_subjects"]):
            self.go("/?" + urllib.parse.urlencode({"prefix": subject}))
            self.wait(lambda: len(self.css("#subject-list a")) == 1, f"search for {subject!r}")
            a = self.one("#subject-list a")
            assert a.text == subject, f"listed as {a.text!r}, want {subject!r}"
            self.assert_not_pwned()
            a.click()
            self.wait(lambda: self.css("h1 .subject-name") and self.text("h1 .subject-name") == subject,
                      f"subject page of {subject!r}")
            if subject in (".", ".."):
                want = "/console/subjects/?" + urllib.parse.urlencode({"subject": subject})
            else:
                want = self.js("return '/console/subjects/' + encodeURIComponent(arguments[0])", subject)
            got = self.js("return location.pathname + location.search")
            assert got == want, f"{subject!r} opened at {got}, want {want}"
            self.wait(lambda: self.css('section[data-predicate="name"] tr[data-id]'), "its claim")
            cell = self.one('section[data-predicate="name"] tr[data-id] td').text
            assert cell == f"value <b>{i}</b>", cell
            self.assert_not_pwned()
            # Reloading the deep link renders the same subject.
            self.driver.refresh()
            self.wait(lambda: self.css('section[data-predicate="name"] tr[data-id]'), "reloaded deep link")
            assert self.text("h1 .subject-name") == subject
            self.assert_not_pwned()
        print(f"ok {len(self.seed['odd_subjects'])} subjects with spaces, slashes, quotes, <script>, non-Latin text, '..'")

    def check_empty_states(self):
        self.subject_page("no such:subject <i>")
        assert self.text(".empty h2") == "No claims", self.text(".empty h2")
        assert "no such:subject <i>" in self.text(".empty p")
        self.go("/console/records/" + "0" * 64)
        self.wait(lambda: self.css(".empty h2"), "unknown record")
        assert self.text(".empty h2") == "No such record"
        self.go("/console/records/" + urllib.parse.quote("xyz<script>", safe=""))
        self.wait(lambda: self.css(".empty h2"), "bad record id")
        assert self.text(".empty h2") == "Not a record id"
        self.assert_not_pwned()
        self.go("/console/nowhere")
        self.wait(lambda: self.css(".empty h2"), "unknown console page")
        assert self.text(".empty h2") == "No such page"
        print("ok empty states for unknown subject, unknown id, bad id, unknown page")

    def record(self, rid):
        self.go("/console/records/" + rid)
        self.wait(lambda: self.css("#signature-status") or self.css(".empty"), f"record {rid}")

    def check_records(self):
        s = self.seed
        self.record(s["fda"])
        assert self.text(".full-id") == s["fda"]
        assert self.text("#signature-status") == "unsigned"
        assert self.text(".subject-link") == "drug:semaglutide"
        assert any(a.get_attribute("href").endswith(s["vote"]) for a in self.css("#votes a")), "vote not listed"
        assert "+1" in self.text("#votes"), self.text("#votes")
        assert any(a.get_attribute("href").endswith(s["child"]) for a in self.css("#children a")), "child not listed"
        assert "Not retracted" in self.text("#retraction")
        assert not self.css(".actions"), "write buttons without a key"
        self.shot("record-desktop")
        self.record(s["child"])
        assert any(a.get_attribute("href").endswith(s["fda"]) for a in self.css("#parents a")), "parent not listed"
        self.record(s["retracted"])
        assert "Retracted" in self.text(".banner")
        assert any(a.get_attribute("href").endswith(s["retraction"]) for a in self.css("#retraction a"))
        self.assert_not_pwned()
        self.record(s["signed"])
        assert self.text("#signature-status") == "valid"
        self.record(s["vote"])
        assert any(a.get_attribute("href").endswith(s["fda"]) for a in self.css("#target a")), "vote target"
        # Following a link from the record page to the subject.
        self.record(s["fda"])
        self.one(".subject-link").click()
        self.wait(lambda: self.css("h1 .subject-name") and self.text("h1 .subject-name") == "drug:semaglutide", "subject link")
        print("ok record pages: fields, signature, votes, retraction, parents, children, target")

    def check_cluster_single(self):
        self.go("/console/cluster")
        self.wait(lambda: self.css("[data-mode=single]"), "single-node state")
        assert self.text("[data-mode=single] h2") == "Single node"
        assert self.one('nav a[data-section="cluster"]').get_attribute("aria-current") == "page"
        self.wait(lambda: self.js("return document.getElementById('chart-stored').dataset.value || null"), "records chart")
        self.shot("cluster-single-desktop", full=False)
        print("ok cluster page: single node state")

    def check_charts(self):
        self.go("/")
        stored = lambda: self.js("const v = document.getElementById('chart-stored').dataset.value; return v ? Number(v) : null")
        self.wait(lambda: stored() is not None and stored() > 0, "records stored chart")
        # Writes and queries while the page polls: both charts must show them.
        writes = lambda: self.js("const v = document.getElementById('chart-writes').dataset.value; return v ? Number(v) : null")
        latency = lambda: self.js("const v = document.getElementById('chart-latency').dataset.value; return v ? Number(v) : null")
        deadline = time.time() + 20
        n = 0
        while time.time() < deadline and not ((writes() or 0) > 0 and (latency() or 0) > 0):
            for _ in range(5):
                n += 1
                self.api("/v1/assert", "POST", {"subject": "live:chart", "predicate": "n",
                                                 "object": {"type": "number", "value": n}, "agent": "load"})
                self.api("/v1/query?subject=live:chart&lens=recency")
            time.sleep(0.3)
        assert (writes() or 0) > 0, f"writes/s chart shows {writes()} after {n} writes"
        assert (latency() or 0) > 0, f"latency chart shows {latency()} after {n} queries"
        # A few more samples under load so the screenshot shows lines, not dots.
        deadline = time.time() + 12
        pts = lambda: int(self.js("return Number(document.getElementById('chart-writes').dataset.points || 0)"))
        while time.time() < deadline and pts() < 5:
            for _ in range(5):
                n += 1
                self.api("/v1/assert", "POST", {"subject": "live:chart", "predicate": "n",
                                                 "object": {"type": "number", "value": n}, "agent": "load"})
                self.api("/v1/query?subject=live:chart&lens=recency")
            time.sleep(0.3)
        points = self.js("return document.querySelector('#chart-writes path.line').getAttribute('d')")
        assert points and points.startswith("M"), points
        self.shot("home-desktop")
        print(f"ok live charts from /metrics (writes/s {writes():.1f}, query p95 {latency():.2f} ms, stored {stored():.0f})")

    def check_write_actions(self):
        s = self.seed
        self.one("#access-toggle").click()
        self.one("#access-key").send_keys(s["admin_token"])
        agent = self.one("#access-agent")
        agent.clear()
        agent.send_keys("console-reviewer")
        self.one("#access-form button[type=submit]").click()
        self.wait(lambda: self.text("#access-state").startswith("Key set"), "key badge")
        assert self.js("return sessionStorage.getItem('stemedb.key')") == s["admin_token"]
        self.subject_page("drug:semaglutide")
        row = self.one(f'tr[data-id="{s["trial"]}"]')
        row.find_element(By.CSS_SELECTOR, ".actions button").click()
        self.wait(lambda: "Vote +1 recorded" in self.text("#notice"), "vote notice")
        votes = self.api(f"/v1/assertions/{s['trial']}")["votes"]
        assert any(v["agent"] == "console-reviewer" and v["weight"] == 1 for v in votes), votes
        self.js("document.getElementById('access-forget').click()")
        self.wait(lambda: self.text("#access-state") == "Read-only", "read-only again")
        self.subject_page("drug:semaglutide")
        assert not self.css(".actions"), "write buttons after forgetting the key"
        print("ok write actions only with a key (vote sent with Authorization: Bearer)")

    def check_phone(self):
        self.metrics(*PHONE, mobile=True)
        for path, name in [("/console/subjects/drug%3Asemaglutide", "subject-phone"),
                           (f"/console/records/{self.seed['fda']}", "record-phone"), ("/", "home-phone")]:
            self.go(path)
            self.wait(lambda: self.js("return document.querySelector('main').dataset.renderMs || null")
                      or self.css("#signature-status") or self.css("#subject-list li"), path)
            time.sleep(0.3)
            sw = self.js("return document.documentElement.scrollWidth")
            assert sw <= PHONE[0] + 1, f"{path} is {sw}px wide at {PHONE[0]}px"
            self.shot(name)
        self.metrics(*DESKTOP)
        print("ok phone width (375 px): no horizontal scrolling")

    def check_contrast(self):
        script = """
        const lum = (c) => { const [r, g, b] = c.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
                             return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
        const rgb = (s) => { const m = s.match(/[\\d.]+/g); return m ? m.map(Number) : [0, 0, 0, 1]; };
        const bg = (el) => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor);
                             if (c.length < 4 || c[3] > 0.5) return c; } return [255, 255, 255]; };
        const bad = [];
        const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        for (let n = walker.nextNode(); n; n = walker.nextNode()) {
          const el = n.parentElement;
          if (!n.textContent.trim() || !el.offsetParent || el.closest('.visually-hidden, .skip')) continue;
          const fg = rgb(getComputedStyle(el).color), b = bg(el);
          const [l1, l2] = [lum(fg), lum(b)].sort((x, y) => y - x);
          const ratio = (l1 + 0.05) / (l2 + 0.05);
          if (ratio < 4.5) bad.push(`${el.tagName}.${el.className} "${n.textContent.trim().slice(0, 20)}" ${ratio.toFixed(2)}`);
        }
        return bad;"""
        for path in ["/", "/console/subjects/drug%3Asemaglutide?as_of=1700000100000", f"/console/records/{self.seed['fda']}"]:
            self.go(path)
            self.wait(lambda: self.js("return document.querySelector('main').dataset.renderMs || null")
                      or self.css("#signature-status") or self.css("#subject-list li"), path)
            time.sleep(0.3)
            bad = self.js(script)
            assert bad == [], f"text below 4.5:1 contrast on {path}: {bad[:8]}"
        print("ok text contrast >= 4.5:1 on search, subject and record pages")

    def check_bench(self):
        times = []
        for _ in range(3):
            self.subject_page("bench:1000")
            times.append(int(self.js("return Number(document.querySelector('main').dataset.renderMs)")))
        rows = len(self.css('section[data-predicate="value"] tr[data-id]'))
        assert rows == 100, f"{rows} rows before 'show all'"
        ms = self.js("""
            const t = performance.now();
            document.querySelector('.show-all').click();
            document.body.offsetHeight;
            return performance.now() - t;""")
        rows = len(self.css('section[data-predicate="value"] tr[data-id]'))
        assert rows == 1000, f"{rows} rows after 'show all'"
        q = urllib.parse.urlencode({"subject": "bench:1000", "predicate": "value", "lens": "consensus"})
        res = self.api(f"/v1/query?{q}")["results"][0]["resolution"]
        assert self.lens_value("value", "consensus") == res["value"]["value"]
        print(f"MEASURE subject with 1,000 candidates: first render {statistics.median(times)} ms "
              f"(median of {times}: 7 API queries + lens grid + first 100 rows), all 1,000 rows {ms:.0f} ms")

    def check_cluster_up(self):
        names = self.seed["cluster_nodes"]
        self.go("/console/cluster")
        rows = lambda: {r.get_attribute("data-node"): r.find_element(By.CSS_SELECTOR, ".badge").text
                        for r in self.css("#members tr[data-node]")}
        self.wait(lambda: rows() == {n: "UP" for n in names}, f"members {names} all UP", timeout=30)
        status = self.api("/v1/cluster/status")
        assert self.text("#node-id") == status["node_id"]
        assert self.text("#cluster-mode") == "read-write", self.text("#cluster-mode")
        assert self.text("#hints-pending") == str(status["replication"]["hints_pending"])
        counts = [int(td.text) for td in self.css("#partitions td.num")]
        assert sum(counts) == len(status["partitions"]) and counts, counts
        self.wait(lambda: self.js("return document.getElementById('chart-stored').dataset.value || null"), "records chart")
        self.shot("cluster-desktop")
        print(f"ok cluster page: {len(names)} members UP, mode read-write, {len(status['partitions'])} partitions")

    def check_cluster_down(self):
        down = self.seed["cluster_down"]
        self.go("/console/cluster")
        state = lambda: {r.get_attribute("data-node"): r.find_element(By.CSS_SELECTOR, ".badge").text
                         for r in self.css("#members tr[data-node]")}.get(down)
        self.wait(lambda: state() in ("SUSPECT", "DOWN"), f"{down} shown as not UP", timeout=40)
        self.wait(lambda: state() == "DOWN", f"{down} shown as DOWN", timeout=40)
        print(f"ok cluster page follows membership: {down} is DOWN after it was killed")

    def check_weight(self):
        total = 0
        for path in ["/", "/console/assets/app.js", "/console/assets/charts.js",
                     "/console/assets/console.css", "/console/assets/favicon.svg"]:
            with urllib.request.urlopen(self.base + path, timeout=30) as r:
                total += len(r.read())
        assert total <= 200 * 1024, total
        print(f"MEASURE console page weight: {total} bytes uncompressed (shell + every asset)")


def main():
    p = argparse.ArgumentParser()
    for a in ["--base", "--seed", "--shots", "--chromium", "--driver", "--profile"]:
        p.add_argument(a, required=True)
    p.add_argument("--checks", default="single", choices=["single", "cluster-up", "cluster-down"])
    args = p.parse_args()
    c = Console(args)
    if args.checks == "cluster-up":
        checks = [c.check_cluster_up]
    elif args.checks == "cluster-down":
        checks = [c.check_cluster_down]
    else:
            checks = [c.check_weight, c.check_search_and_keyboard, c.check_pagination, c.check_subject_lenses,
                  c.check_as_of, c.check_odd_subjects, c.check_empty_states, c.check_records,
                  c.check_cluster_single, c.check_charts, c.check_contrast, c.check_phone,
                  c.check_write_actions, c.check_bench]
    try:
        for check in checks:
            current = check.__name__
            check()
    except Exception:
        traceback.print_exc()
        try:
            c.driver.save_screenshot(str(c.shots / f"FAILED-{current}.png"))
            print(f"failing page: {c.driver.current_url}; screenshot FAILED-{current}.png in {c.shots}")
            logs = c.driver.get_log("browser")
            for entry in logs[-20:]:
                print("browser:", entry.get("level"), entry.get("message"))
        except Exception as e:  # noqa: BLE001 - best effort diagnostics
            print("could not capture failure details:", e)
        c.driver.quit()
        sys.exit(1)
    c.driver.quit()
    print("ALL CONSOLE CHECKS PASSED")


if __name__ == "__main__":
    main()
