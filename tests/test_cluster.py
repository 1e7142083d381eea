"""Several dashboard servers on one S3 store behind HAProxy (``digitlib.ops.cluster``, ``make cluster``).

The browser tests start the real thing once for the module: SeaweedFS, two dashboard servers
(one preheated kernel each) and HAProxy, then drive headless Chromium through the balancer. The
tests run in order on the same cluster: pages spread over both servers, a promotion made on the
store reaches the readings of both servers, Learn on one server reaches the readings of the
other, a drained server keeps its visitors, and one server killed while pages are open.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import expect
from test_dashboard_browser import (
    PAGE_TIMEOUT,
    READING_TIMEOUT,
    Handwriting,
    draw_with_mouse,
    expect_no_errors,
    expect_reading,
    wait_until_usable,
)

from digitlib.dashboard.render import versions_text
from digitlib.ops.cluster import (
    COOKIE,
    SERVER_HEADER,
    Backend,
    Cluster,
    ClusterConfig,
    ClusterError,
    check_haproxy_config,
    find_haproxy,
    free_port,
    render_haproxy_config,
    wait_for,
)

#: Pages opened through the balancer at once (the issue's target; DIGITLIB_CLUSTER_PAGES changes it).
PAGES = int(os.environ.get("DIGITLIB_CLUSTER_PAGES", "10"))
#: The stated time for a promoted version to reach the readings of every server.
PROPAGATION_LIMIT = 10.0
#: Seconds from nothing running to a usable page served through the balancer.
FIRST_PAGE_LIMIT = 60.0


# --- without servers ------------------------------------------------------------------------


def test_haproxy_config_is_accepted_by_haproxy(tmp_path: Path):
    text = render_haproxy_config(
        [Backend("s1", "127.0.0.1", 9001), Backend("s2", "127.0.0.1", 9002)],
        port=9000,
        stats_port=9003,
        stats_socket=tmp_path / "stats.sock",
    )
    path = tmp_path / "haproxy.cfg"
    path.write_text(text)
    check_haproxy_config(path)  # HAProxy's own parser, not ours
    assert "server s1 127.0.0.1:9001 check cookie s1" in text
    assert "server s2 127.0.0.1:9002 check cookie s2" in text
    assert f"cookie {COOKIE} insert indirect nocache" in text
    assert "option httpchk" in text and "timeout tunnel" in text


def test_haproxy_config_refuses_what_cannot_work(tmp_path: Path):
    with pytest.raises(ValueError, match="at least one server"):
        render_haproxy_config([])
    with pytest.raises(ValueError, match="unique"):
        render_haproxy_config([Backend("s1", "127.0.0.1", 1), Backend("s1", "127.0.0.1", 2)])
    path = tmp_path / "broken.cfg"
    path.write_text(render_haproxy_config([Backend("s1", "127.0.0.1", 1)]) + "\n  nonsense\n")
    with pytest.raises(ClusterError, match="HAProxy rejects"):
        check_haproxy_config(path)


def test_missing_haproxy_says_how_to_install_it(monkeypatch):
    monkeypatch.setenv("DIGITLIB_HAPROXY", "/nowhere/haproxy")
    with pytest.raises(ClusterError, match="unset it or fix it"):
        find_haproxy()


def test_without_haproxy_and_root_the_install_says_how(monkeypatch):
    import digitlib.ops.cluster as cluster_module

    monkeypatch.setattr(cluster_module, "find_haproxy", lambda: None)
    monkeypatch.setattr(cluster_module.os, "geteuid", lambda: 1000)
    with pytest.raises(ClusterError, match="apt-get install haproxy.*DIGITLIB_HAPROXY"):
        cluster_module.install_haproxy()


def test_cluster_config_needs_a_shared_store():
    with pytest.raises(ValueError, match="s3://"):
        ClusterConfig(store_url="data/store")
    with pytest.raises(ValueError, match="workers"):
        ClusterConfig(workers=0)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (ClusterConfig(workers=2, pool_size=2), 13),  # 27 kernels fit in 4 GiB, split in two
        (ClusterConfig(workers=4, pool_size=2), 6),
        (ClusterConfig(workers=40, pool_size=2), 2),  # never below the pool
        (ClusterConfig(workers=2, pool_size=2, max_kernels=5), 5),
    ],
)
def test_servers_on_one_machine_share_its_kernel_budget(config, expected):
    assert config.kernels_per_server(4 * 2**30) == expected


def test_cluster_config_checks_the_kernel_budget():
    with pytest.raises(ValueError, match="at least pool_size"):
        ClusterConfig(pool_size=2, max_kernels=1)
    with pytest.raises(ValueError, match="max_kernels must be 0"):
        ClusterConfig(max_kernels=-1)


def test_versions_text_names_each_models_version():
    assert versions_text({"numpy_fnn": "shipped", "cnn": 3, "fnn": 2}) == (
        "read by cnn v3, fnn v2, numpy_fnn shipped"
    )
    assert versions_text({}) == ""


def test_the_page_says_which_versions_read_the_drawing(tmp_path: Path):
    from digitlib.dashboard import Dashboard, build_services
    from digitlib.models.numpy_fnn import NumpyFNN

    shipped = tmp_path / "shipped"
    shipped.mkdir()
    NumpyFNN(rng=0).save(shipped / "numpy_fnn.npz")
    services = build_services(str(tmp_path / "store"), shipped)
    services.sync_interval = 0.0  # check the registry before every reading
    dashboard = Dashboard(services)
    dashboard.pad.load([np.array([[20, 20], [20, 90]], np.float32)], [10.0])
    dashboard.read()
    assert "read by numpy_fnn shipped" in dashboard.versions_line.value

    services.registry.seed("numpy_fnn")  # version 1, promoted: as another server would
    newer = tmp_path / "newer.npz"
    NumpyFNN(rng=1).save(newer)
    manifest = services.registry.save_version("numpy_fnn", newer, parent=1, produced_by="test")
    services.registry.promote("numpy_fnn", manifest.version, expected_current=1)
    dashboard.read()
    assert f"read by numpy_fnn v{manifest.version}" in dashboard.versions_line.value
    dashboard.pad.load([], [])
    dashboard.read()
    assert dashboard.versions_line.value == ""


# --- the cluster in a browser -----------------------------------------------------------------


@pytest.fixture(scope="module")
def handwriting() -> Handwriting:
    """Real handwritten numbers that the shipped models read right (as in the browser tests)."""
    import digitlib
    from digitlib.drawings.data import load_pendigits

    return Handwriting(digitlib.load_recognizer(), load_pendigits())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    config = ClusterConfig(
        workers=2,
        pool_size=1,
        port=free_port(),
        cull_idle_seconds=300,
        check_interval_ms=500,
    )
    started = time.monotonic()
    with Cluster(config, tmp_path_factory.mktemp("cluster")) as running:
        running.__dict__["started"] = started
        yield running


class Visit:
    """A page opened through the balancer in a browser context of its own (a new visitor)."""

    def __init__(self, browser, url: str) -> None:
        self.context = browser.new_context(viewport={"width": 1000, "height": 800})
        self.page = self.context.new_page()
        self.websocket_errors: list[str] = []
        self.websockets: list[str] = []
        errors: list[str] = []
        self.page.on("pageerror", lambda error: errors.append(str(error)))
        self.page.__dict__["dl_errors"] = errors
        self.page.on("websocket", self._watch)
        response = self.page.goto(url, timeout=PAGE_TIMEOUT, wait_until="commit")
        self.server = response.headers.get(SERVER_HEADER.lower())

    def _watch(self, websocket) -> None:
        self.websockets.append(websocket.url)
        websocket.on("socketerror", lambda error: self.websocket_errors.append(str(error)))

    def cookie(self) -> str | None:
        values = [c["value"] for c in self.context.cookies() if c["name"] == COOKIE]
        return values[0] if values else None

    def versions(self) -> str:
        return self.page.locator(".digitlib-versions").inner_text()

    def start_reading(self, strokes) -> float:
        """Clear, then draw ``strokes``; returns the monotonic time the drawing began."""
        self.page.get_by_role("button", name="Clear").click()
        expect(self.page.locator(".digitlib-versions")).to_have_text("", timeout=READING_TIMEOUT)
        began = time.monotonic()
        draw_with_mouse(self.page, strokes)
        return began

    def finish_reading(self) -> str:
        """Wait for the reading started by ``start_reading``; return the versions it names."""
        expect(self.page.locator(".digitlib-versions")).to_contain_text(
            "read by", timeout=READING_TIMEOUT
        )
        return self.versions()

    def read_afresh(self, strokes) -> str:
        self.start_reading(strokes)
        return self.finish_reading()


@pytest.fixture(scope="module")
def visits(cluster):
    opened: list[Visit] = []
    yield opened
    for visit in opened:
        visit.context.close()


@pytest.mark.browser
@pytest.mark.slow
def test_one_command_serves_a_page_through_the_balancer_within_60_s(
    cluster, browser, visits, handwriting
):
    visit = Visit(browser, cluster.url)
    visits.append(visit)
    wait_until_usable(visit.page)
    seconds = time.monotonic() - cluster.__dict__["started"]
    print(f"\ncluster start to usable page: {seconds:.1f} s ({cluster.timings})")
    assert visit.server in ("s1", "s2"), f"no {SERVER_HEADER} header from the balancer"
    assert visit.cookie() == visit.server, "the balancer did not pin the visitor to its server"
    draw_with_mouse(visit.page, handwriting.number("42"))
    expect_reading(visit.page, "42")
    assert seconds <= FIRST_PAGE_LIMIT, f"first page took {seconds:.0f} s"


@pytest.mark.browser
@pytest.mark.slow
def test_pages_spread_over_both_servers_and_all_read(cluster, browser, visits, handwriting):
    numbers = [str(n) for n in (305, 172, 964, 481, 750, 263, 819, 547, 630, 914)]
    numbers = (numbers * 2)[:PAGES]
    started = time.monotonic()
    fresh = [Visit(browser, cluster.url) for _ in numbers]
    visits.extend(fresh)
    for visit in fresh:
        wait_until_usable(visit.page)
    opened = time.monotonic() - started
    drawings = [handwriting.number(number) for number in numbers]
    for index in range(max(len(strokes) for strokes in drawings)):  # all kernels read at once
        for visit, strokes in zip(fresh, drawings, strict=True):
            if index < len(strokes):
                draw_with_mouse(visit.page, [strokes[index]])
    for visit, number in zip(fresh, numbers, strict=True):
        expect_reading(visit.page, number, timeout=60_000)
        expect_no_errors(visit.page)
    spread = Counter(visit.server for visit in fresh)
    print(f"\n{PAGES} pages through the balancer usable in {opened:.1f} s; servers {spread}")
    assert set(spread) == {"s1", "s2"} and min(spread.values()) >= PAGES // 2 - 1, spread
    for visit in fresh:
        assert visit.cookie() == visit.server
        assert visit.websockets, "the page opened no kernel websocket"
        port = f":{cluster.config.port}/"
        assert all(port in url for url in visit.websockets), visit.websockets
        assert visit.websocket_errors == [], visit.websocket_errors


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _promote_copy(registry, name: str) -> tuple[int, float]:
    """Promote a new version of ``name`` (a copy of the live one), as Learn's last step does.
    Returns the new version and the monotonic time the promotion finished."""
    current = registry.current(name)
    manifest = registry.manifest(name, current)
    data = registry.store.get(manifest.key)
    saved = registry.save_version(
        name, data, parent=current, produced_by="test_cluster", note="propagation test"
    )
    registry.promote(name, saved.version, expected_current=current)
    return saved.version, time.monotonic()


@pytest.mark.browser
@pytest.mark.slow
def test_a_promoted_version_reads_on_every_server_within_10_s(cluster, visits, handwriting):
    from digitlib.store import ModelRegistry

    by_server = {}
    for visit in visits:
        by_server.setdefault(visit.server, visit)
    assert set(by_server) == {"s1", "s2"}, "the tests above left no page on each server"
    strokes = handwriting.number("7")
    for visit in by_server.values():
        assert "numpy_fnn v1" in visit.read_afresh(strokes), visit.versions()

    registry = ModelRegistry(cluster.open_store(), who="test on server s1's store")
    version, promoted_at = _promote_copy(registry, "numpy_fnn")
    expected = f"numpy_fnn v{version}"
    # Both pages read over and over, side by side, until each reads with the new version.
    waited, readings = {}, Counter()
    while len(waited) < len(by_server):
        assert time.monotonic() - promoted_at < PROPAGATION_LIMIT, (
            f"{sorted(set(by_server) - set(waited))} still read with the old version "
            f"{PROPAGATION_LIMIT:.0f} s after {expected} was promoted"
        )
        pending = {name: v for name, v in by_server.items() if name not in waited}
        began = {name: visit.start_reading(strokes) for name, visit in pending.items()}
        for name, visit in pending.items():
            readings[name] += 1
            if expected in visit.finish_reading():
                waited[name] = began[name] - promoted_at
                expect_reading(visit.page, "7")
    figures = {
        name: f"{seconds:.2f} s after the promotion, reading {readings[name]}"
        for name, seconds in sorted(waited.items())
    }
    print(f"\nfirst reading with the promoted version began: {figures}")


@pytest.mark.browser
@pytest.mark.slow
def test_learning_on_one_server_reaches_the_readings_of_the_other(cluster, visits, handwriting):
    from datetime import datetime

    from digitlib.store import ModelRegistry

    learner = next(visit for visit in visits if visit.server == "s1")
    reader = next(visit for visit in visits if visit.server == "s2")
    registry = ModelRegistry(cluster.open_store())
    before = {name: registry.current(name) for name in ("cnn", "fnn", "numpy_fnn")}
    page = learner.page
    page.get_by_role("button", name="Clear").click()
    draw_with_mouse(page, handwriting.number("4"))
    expect_reading(page, "4")
    page.locator(".digitlib-correction input").fill("4")  # a right label: safe to learn
    page.get_by_role("button", name="Learn").click()
    verdict = page.locator(".digitlib-verdict")
    expect(verdict).to_contain_text(
        re.compile("Promoted|Not promoted|Held for review"), timeout=300_000
    )
    assert "Promoted" in verdict.inner_text(), verdict.inner_text()
    after = {name: registry.current(name) for name in before}
    learned = {name: version for name, version in after.items() if version != before[name]}
    assert learned, f"the verdict says promoted but no version moved: {before} -> {after}"
    promoted_at = max(
        datetime.fromisoformat(registry.current_promotion(name).promoted_at).timestamp()
        for name in learned
    )
    expected = [f"{name} v{version}" for name, version in learned.items()]
    strokes = handwriting.number("7")
    while True:
        began = time.time()
        shown = reader.read_afresh(strokes)
        if all(text in shown for text in expected):
            break
        assert time.time() - promoted_at < PROPAGATION_LIMIT, (
            f"server s2 reads with {shown!r} {PROPAGATION_LIMIT:.0f} s after s1 promoted {expected}"
        )
    print(
        f"\nlearned on s1 ({', '.join(expected)}); s2's first reading with them began "
        f"{began - promoted_at:.2f} s after the promotion"
    )
    assert began - promoted_at <= PROPAGATION_LIMIT


@pytest.mark.browser
@pytest.mark.slow
def test_a_drained_server_keeps_its_visitors_and_gets_no_new_ones(
    cluster, browser, visits, handwriting
):
    on_s2 = next(visit for visit in visits if visit.server == "s2")
    cluster.drain("s2")
    try:
        assert cluster.states()["s2"] == "DRAIN"
        fresh = [Visit(browser, cluster.url) for _ in range(2)]
        visits.extend(fresh)
        assert [visit.server for visit in fresh] == ["s1", "s1"]
        # The visitor already on s2 keeps their kernel there (the cookie still leads to it).
        assert "read by" in on_s2.read_afresh(handwriting.number("5"))
        expect_reading(on_s2.page, "5")
        for visit in fresh:
            wait_until_usable(visit.page)
    finally:
        cluster.ready("s2")
    assert cluster.states()["s2"] == "UP"


@pytest.mark.browser
@pytest.mark.slow
def test_a_killed_server_is_marked_down_and_new_pages_go_to_the_other(
    cluster, browser, visits, handwriting
):
    from digitlib.store import DrawingStore

    live = [visit for visit in visits if visit.server in ("s1", "s2")]
    savers = [v for v in live if v.server == "s1"][:3] + [v for v in live if v.server == "s2"][:3]
    saved = []
    for visit in savers:
        page = visit.page
        page.get_by_role("button", name="Clear").click()
        draw_with_mouse(page, handwriting.number("86"))
        expect_reading(page, "86")
        page.locator(".digitlib-correction input").fill("86")
        page.get_by_role("button", name="Save drawing").click()
        status = page.locator(".digitlib-status")
        expect(status).to_contain_text("Saved drawing", timeout=READING_TIMEOUT)
        saved.append(re.search(r"Saved drawing (\S+) labelled", status.inner_text()).group(1))
    assert {visit.server for visit in savers} == {"s1", "s2"} and len(saved) == 6

    killed_at = time.monotonic()
    kernels = cluster.server("s1").kernel_pids()
    assert kernels, "s1 should hold kernels of the pages opened on it"
    cluster.kill_server("s1")
    wait_for(lambda: not any(_alive(pid) for pid in kernels), 10, "s1's kernels ending")
    down = wait_for(lambda: cluster.states().get("s1") == "DOWN", 30, "HAProxy marking s1 DOWN")
    print(f"\ns1 killed: HAProxy marked it DOWN by its health check after {down:.1f} s")
    assert cluster.states()["s2"] == "UP"
    stored = {record.id for record in DrawingStore(cluster.open_store()).list()}
    assert set(saved) <= stored, (
        f"saved before the kill but not in the store: {set(saved) - stored}"
    )

    fresh = [Visit(browser, cluster.url) for _ in range(2)]
    visits.extend(fresh)
    for visit in fresh:
        assert visit.server == "s2", f"a new page went to {visit.server} after s1 died"
        wait_until_usable(visit.page)
        draw_with_mouse(visit.page, handwriting.number("59"))
        expect_reading(visit.page, "59")
        expect_no_errors(visit.page)
    # The visitors already on s2 keep their kernels and read on.
    survivor = next(visit for visit in live if visit.server == "s2")
    assert "read by" in survivor.read_afresh(handwriting.number("3"))
    print(f"new pages served by s2 {time.monotonic() - killed_at:.1f} s after the kill")


def test_stop_ends_every_process(cluster):
    processes = [cluster.haproxy, *(server.process for server in cluster.servers)]
    weed = cluster.seaweedfs.process
    cluster.stop()
    for process in [*processes, weed]:
        assert process.poll() is not None, f"still running after stop(): pid {process.pid}"
        with pytest.raises(ProcessLookupError):
            os.killpg(process.pid, 0)  # nothing left in its process group
