"""A year of activity for the demo federation, made through the running nodes' own API.

``fedshare demo`` (``--seed-size year``, the default) fills the five-node demo with several hundred
records over every category and class, relay orders that stopped in every state (some overdue),
ledger items with deadlines, feedback and 销号, rectification demands (整改意见) from findings
(reported, returned, accepted, closed off with evidence, reopened by 回头看, some overdue), each
node's inspected units (被巡察单位) and rounds (常规, 专项, 回头看; completed, in progress,
planned) so that coverage of the term (全覆盖) shows, a synchronised round (同步展开) the province
launched for its counties (one started and reporting problems, one late), and
access requests that ended every way a request ends (pending, denied, expired undecided, granted
and read, expired, revoked). ``small`` is the same
story over three months with fewer records, for tests.

Why through the API, and how a year passes in a minute:

- Every item is made by a real request to the node that owns it, as that node's users, so
  replication, envelope signatures, sealing, audit chains, grants and statistics are the real ones;
  nothing is written into a database (``fedshare audit verify`` passes on every node afterwards).
- The nodes run on the clock file of ``node.clock.OffsetFileClock`` (``FEDSHARE_TEST_CLOCK_FILE``,
  read by every node's process): the demo prepares the federation with that clock set back by the
  length of the history (``rewind_clock``), then this module moves it forward, step by step,
  to the simulated moment of each action (office hours, working days). Times only ever move
  forward; when the history is done the clock is set to the real time (offset 0), and the demo
  runs on real time from then on. Each node stamps its own times, so ``created_at``, order steps,
  grant times and overdue flags are what the nodes themselves recorded.
- Each story (a record, an order and each addressee's part in it, a ledger item, an access
  request) is a sequence of steps; all steps run in time order. A step whose next step happens at
  another node (an order issued, then acknowledged by the addressee) has its effect awaited there
  (polling the API, never a fixed sleep) before the clock runs more than a day past it, so the
  next step finds it and nothing in flight is stamped by a clock that has moved far on.

Deterministic: one seeded ``random.Random`` chooses everything; only the dates follow today's.
Names of persons are of the 赵某 kind; units are generic (县水利局, 某镇党委).
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import httpx

from node.clock import SystemClock
from node.federation import Federation
from node.policy.categories import CategoryTable, load_categories
from node.settings import packaged_policies_dir


class SeedingError(RuntimeError):
    """A request of the seeding failed, or its effect did not arrive in time."""


@dataclass(frozen=True)
class SeedSize:
    name: str
    days: int
    records: int
    orders: int
    ledger_items: int
    access_requests: int
    rectifications: int = 0


SIZES: dict[str, SeedSize] = {
    "small": SeedSize(
        "small",
        days=91,
        records=44,
        orders=10,
        ledger_items=5,
        access_requests=8,
        rectifications=3,
    ),
    "year": SeedSize(
        "year",
        days=365,
        records=300,
        orders=36,
        ledger_items=30,
        access_requests=26,
        rectifications=12,
    ),
}
SEED = 20_240_601
ACCESS_DAY_DRAWS = 50
"""Days an access request story draws before it gives up finding an unused case-secret record."""
WAIT_AT_MOST = timedelta(days=1)
"""How far the clock may run past a step whose effect another node's next step needs."""
# The history ends a little before the real time at which seeding starts, so the clock only moves
# forward when it is finally set to the real time.
END_MARGIN = timedelta(hours=3)
SETTLE_TIMEOUT_S = 90.0
FIRST_LOOK_S = 0.15
CST = timezone(timedelta(hours=8))
ISSUER_ACTIONS = ("accept", "return", "close")
# Where an addressee still owes work (an order stopped here past its deadline is overdue).
OPEN_FINALS = ("received", "acknowledged", "in_progress", "returned")

# -- vocabulary ---------------------------------------------------------------------------------

UNITS: dict[str, list[str]] = {
    "county": [
        "县水利局",
        "县自然资源局",
        "县住建局",
        "县教育局",
        "县卫健局",
        "县农业农村局",
        "县财政局",
        "县民政局",
        "县交通运输局",
        "县林业局",
        "县市场监管局",
        "县医保局",
        "县人社局",
        "县城投公司",
        "某镇党委",
        "某镇政府",
        "某乡党委",
        "某村党支部",
    ],
    "city": [
        "市水务局",
        "市自然资源局",
        "市住建局",
        "市国资委",
        "市城投集团",
        "市卫健委",
        "市教育局",
        "市农业农村局",
        "市交通运输局",
        "市医保局",
    ],
    "province": [
        "省交通运输厅",
        "省水利厅",
        "省自然资源厅",
        "省卫健委",
        "省农业农村厅",
        "省住建厅",
        "省属某国有企业",
    ],
    "central": ["中央和国家机关某部门", "某中管企业"],
}
OFFICE = {
    "county": "县委巡察办",
    "city": "市委巡察办",
    "province": "省委巡视办",
    "central": "中央巡视办",
}
GROUP = {
    "county": "县委巡察组",
    "city": "市委巡察组",
    "province": "省委巡视组",
    "central": "中央巡视组",
}
DEPARTMENTS = {
    "county": [
        "县纪委监委第一监督检查室",
        "县纪委监委第二监督检查室",
        "县纪委监委第三派驻纪检监察组",
        "县委组织部",
        "县审计局",
    ],
    "city": ["市纪委监委第二监督检查室", "市纪委监委驻市住建局纪检监察组", "市委组织部"],
    "province": ["省纪委监委第五监督检查室", "省纪委监委第八监督检查室", "省委组织部"],
    "central": ["中央纪委国家监委某监督检查室"],
}
THEMES = [
    "乡村振兴",
    "粮食购销",
    "医疗卫生",
    "教育收费",
    "工程建设项目招投标",
    "惠民惠农财政补贴资金",
    "国有企业改革",
    "耕地保护",
    "安全生产",
    "营商环境",
    "选人用人",
    "意识形态工作责任制",
]
ISSUES = [
    "违规收受礼金礼品",
    "插手干预工程项目",
    "违规发放津贴补贴",
    "优亲厚友违规审批低保",
    "虚报冒领惠农补贴资金",
    "违规公款吃喝",
    "违规操办婚丧喜庆事宜",
    "套取项目资金",
    "违规借用管理服务对象车辆",
    "在招投标中为他人谋取利益",
    "截留挪用专项资金",
    "违规兼职取酬",
]
# No real persons: surnames with 某 (王某 and 李某 are the demo's sample reporters, kept apart).
PERSONS = [
    f"{s}某"
    for s in "赵钱孙周吴郑冯陈褚卫蒋沈韩杨朱秦许何吕施张孔曹严华金魏陶姜谢邹喻柏窦章苏潘葛范彭鲁马"
]
POSTS = [
    "局长",
    "副局长",
    "党组书记",
    "站长",
    "所长",
    "办公室主任",
    "财务股长",
    "镇党委书记",
    "副镇长",
    "村党支部书记",
]
MATERIALS = [
    "银行流水",
    "会议记录",
    "工程结算资料",
    "财务凭证",
    "合同文本",
    "聊天记录截图",
    "现场照片",
]
FINDING_AREAS = [
    "落实党中央决策部署",
    "全面从严治党",
    "选人用人",
    "巡察整改",
    "财务管理",
    "工程项目管理",
]
PENALTIES = ["党内警告处分", "诫勉谈话", "批评教育", "通报批评", "政务记过处分"]
TRICKS = ["提级交叉", "巡审联动", "巡纪贯通", "整改回头看", "一线工作法", "清单化督办"]


def _kind(depth: int) -> str:
    return ("central", "province", "city")[depth] if depth < 3 else "county"


# -- what is scheduled ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    """An effect that must have arrived: ``holds`` on what ``role`` at ``node`` GETs at ``path``
    (None for a 404)."""

    node: str
    role: str
    path: str
    holds: Callable[[Any], bool]
    what: str


@dataclass
class Step:
    """One action at a simulated moment. ``run`` makes the request(s) and returns the effects to
    wait for elsewhere. ``blocking``: the story's next step happens at another node, so it waits
    for those effects (the next tick); otherwise they are checked at the end. ``forks``: stories
    that start once this step has settled. ``settle_within``: how far the clock may run past this
    step before its effects are awaited (an arriving order is stamped received on arrival)."""

    at: datetime
    run: Callable[[], list[Expect]]
    blocking: bool = True
    forks: Callable[[], list[Iterator[Step]]] | None = None
    settle_within: timedelta = WAIT_AT_MOST


Story = Iterator[Step]


@dataclass
class PlannedRecord:
    origin: str
    category: str
    classification: str
    title: str
    body: str
    parties: list[str]
    at: datetime
    id: str | None = None
    reserved: bool = False
    edit_at: datetime | None = None
    edit: dict[str, Any] | None = None
    delete_at: datetime | None = None


@dataclass
class TargetPath:
    addressee: str
    final: str
    steps: list[tuple[datetime, str, dict[str, Any]]]


@dataclass
class PlannedOrder:
    issuer: str
    addressees: list[str]
    title: str
    units: list[str]
    focus: list[str]
    at: datetime
    deadline: datetime
    paths: list[TargetPath]
    attachments: list[PlannedRecord] = field(default_factory=list)
    secret: PlannedRecord | None = None
    id: str | None = None


@dataclass
class PlannedLedgerItem:
    node: str
    at: datetime
    outcome: str  # closed | responded | overdue | transferred
    clue: PlannedRecord | None
    title: str
    department: str
    responsible: str
    deadline: datetime
    feedback: str
    feedback_at: datetime | None
    close_at: datetime | None


@dataclass
class PlannedDemand:
    content: str
    responsible: str
    deadline: datetime
    outcome: str  # issued | overdue | reported | returned | accepted | closed | reopened
    steps: list[tuple[datetime, str]]  # (moment, report | return | accept | close | reopen)
    reopen_deadline: datetime | None = None


@dataclass
class PlannedRectification:
    node: str
    at: datetime
    unit: str
    finding_title: str
    finding_body: str
    demands: list[PlannedDemand]


@dataclass
class SeedReport:
    size: str
    seconds: float
    requests: int
    records: Counter[str] = field(default_factory=Counter)
    classes: Counter[str] = field(default_factory=Counter)
    edits: int = 0
    deletions: int = 0
    orders: int = 0
    targets: Counter[str] = field(default_factory=Counter)
    overdue: int = 0
    ledger: Counter[str] = field(default_factory=Counter)
    rectification: Counter[str] = field(default_factory=Counter)
    units: int = 0
    rounds: Counter[str] = field(default_factory=Counter)
    launches: int = 0
    access: Counter[str] = field(default_factory=Counter)
    reads: int = 0
    waits: int = 0
    waited_s: float = 0.0

    def lines(self) -> list[str]:
        return [
            f"seeded {self.size} history in {self.seconds:.1f} s ({self.requests} API requests; "
            f"{self.waited_s:.1f} s in {self.waits} waits for replication)",
            f"  records: {sum(self.records.values())} "
            f"({', '.join(f'{k} {v}' for k, v in sorted(self.classes.items()))}; "
            f"{len(self.records)} categories), {self.edits} edited, {self.deletions} deleted",
            f"  orders: {self.orders}, addressees by state: "
            f"{', '.join(f'{k} {v}' for k, v in sorted(self.targets.items()))}; "
            f"{self.overdue} overdue",
            f"  ledger: {', '.join(f'{k} {v}' for k, v in sorted(self.ledger.items()))}",
            "  rectification demands: "
            f"{', '.join(f'{k} {v}' for k, v in sorted(self.rectification.items()))}",
            f"  inspected units: {self.units}; rounds: "
            f"{', '.join(f'{k} {v}' for k, v in sorted(self.rounds.items()))}; "
            f"{self.launches} synchronised launches",
            f"  access requests: {', '.join(f'{k} {v}' for k, v in sorted(self.access.items()))}"
            f"; {self.reads} reads of released content",
        ]


# -- the API --------------------------------------------------------------------------------------


class NodeApi:
    """HTTP to the federation's nodes as their users (bearer tokens of the role users)."""

    def __init__(self, federation: Federation) -> None:
        self.federation = federation
        self.http = httpx.Client(timeout=60)
        self.requests = 0

    def close(self) -> None:
        self.http.close()

    def call(
        self,
        method: str,
        node: str,
        role: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        missing_ok: bool = False,
    ) -> Any:
        handle = self.federation.nodes[node]
        self.requests += 1
        response = self.http.request(
            method,
            f"{handle.api_url}{path}",
            json=body,
            params=params,
            headers={"Authorization": f"Bearer {handle.tokens[role]}"},
        )
        if missing_ok and response.status_code == 404:
            return None
        if response.status_code >= 400:
            try:
                error = response.json()
            except ValueError:
                error = {"error": response.text[:200]}
            raise SeedingError(
                f"{method} {path} at {node} as {role}: {response.status_code} "
                f"{error.get('error')}: {error.get('detail')}"
            )
        return response.json()

    def fetch(self, node: str, role: str, path: str) -> Any:
        """GET ``path``; a listing with a cursor is followed to its end (items merged)."""
        data = self.call("GET", node, role, path, missing_ok=True)
        if isinstance(data, dict) and data.get("next_cursor") and "items" in data:
            items = list(data["items"])
            while data.get("next_cursor"):
                sep = "&" if "?" in path else "?"
                data = self.call("GET", node, role, f"{path}{sep}cursor={data['next_cursor']}")
                items.extend(data["items"])
            return {"items": items, "next_cursor": None}
        return data


# -- the seeder -----------------------------------------------------------------------------------


def history_window(size: SeedSize, now: datetime | None = None) -> tuple[datetime, datetime]:
    """(start, end) of the simulated history that ends just before ``now`` (default: real now)."""
    end = (now or SystemClock().now()) - END_MARGIN
    return end - timedelta(days=size.days), end


def rewind_clock(federation: Federation, size: SeedSize) -> None:
    """Set the federation's clock to a day before the history starts; call before ``prepare()``
    (users, keys and certificates are then made at that time) on a federation made with
    ``test_clock=True``."""
    start, _end = history_window(size)
    federation.set_clock(start - timedelta(days=1))


def seed_history(
    federation: Federation,
    size: SeedSize,
    *,
    seed: int = SEED,
    log: Callable[[str], None] = print,
) -> SeedReport:
    """Make ``size``'s history on the running ``federation`` (see the module docstring), leave
    its clock at the real time, and report what was made."""
    seeder = Seeder(federation, size, seed=seed, log=log)
    try:
        return seeder.run()
    finally:
        seeder.api.close()


class Seeder:
    def __init__(
        self, federation: Federation, size: SeedSize, *, seed: int, log: Callable[[str], None]
    ) -> None:
        if federation.clock_file is None or federation.topology is None:
            raise SeedingError("the federation must be prepared with test_clock=True")
        self.federation = federation
        self.topology = federation.topology
        self.size = size
        self.rng = random.Random(seed)
        self.log = log
        self.api = NodeApi(federation)
        self.categories: CategoryTable = load_categories(packaged_policies_dir() / "categories.csv")
        self.start, self.end = history_window(size)
        self.nodes = list(federation.nodes)
        self.kind = {n: _kind(self.topology.depth(n)) for n in self.nodes}
        self.name = {n: federation.nodes[n].name for n in self.nodes}
        self.records: list[PlannedRecord] = []
        self.eventually: list[Expect] = []
        self.report = SeedReport(size=size.name, seconds=0.0, requests=0)
        self._seq = itertools.count()

    # -- time -------------------------------------------------------------------------------------

    def office_time(self, moment: datetime, *, latest: datetime | None = None) -> datetime:
        """A working day's office hour (Beijing time) on or after ``moment``'s day, never after
        ``latest`` (default: the end of the history)."""
        latest = latest or self.end
        day: date = moment.astimezone(CST).date()
        while True:
            while day.weekday() >= 5:
                day += timedelta(days=1)
            minutes = self.rng.randrange(8 * 60 + 30, 17 * 60 + 30)
            at = datetime(day.year, day.month, day.day, tzinfo=CST) + timedelta(
                minutes=minutes, seconds=self.rng.randrange(60)
            )
            if at >= moment:
                break
            day += timedelta(days=1)
        at = at.astimezone(UTC)
        if at > latest:
            at = latest - timedelta(minutes=self.rng.randrange(5, 90))
        return at

    def after(self, moment: datetime, low: float, high: float) -> datetime:
        """An office time ``low``..``high`` days after ``moment``."""
        return self.office_time(moment + timedelta(days=self.rng.uniform(low, high)))

    def clock_to(self, moment: datetime) -> None:
        """Move every node's clock to ``moment``, unless it already reads later (time only moves
        forward: real time flows while the seeding works)."""
        if moment > self.federation.now():
            self.federation.set_clock(moment)

    def random_day(self, low: datetime, high: datetime) -> datetime:
        """A moment between ``low`` and ``high``, busier in the months of inspection rounds."""
        span = max(1, int((high - low).total_seconds() // 86400))
        season = {1: 5, 2: 4, 3: 9, 4: 12, 5: 12, 6: 10, 7: 9, 8: 7, 9: 11, 10: 12, 11: 12, 12: 9}
        weights = [season[(low + timedelta(days=d)).month] for d in range(span)]
        (day,) = self.rng.choices(range(span), weights=weights)
        return low + timedelta(days=day, hours=self.rng.uniform(0, 20))

    # -- the run ------------------------------------------------------------------------------

    def run(self) -> SeedReport:
        began = time.monotonic()
        self.log(
            f"seeding {self.size.name} history from {self.start:%Y-%m-%d} to {self.end:%Y-%m-%d} "
            "through the nodes' API ..."
        )
        # Plan everything first (orders, ledger items and requests pick the records they use),
        # then play it in time order.
        self.plan_records()
        stories: list[Story] = [self.order_story(o) for o in self.plan_orders()]
        stories += [self.ledger_story(item) for item in self.plan_ledger()]
        stories += self.plan_access()
        stories += [self.record_story(r) for r in self.records]
        # Planned last, with their own random source: the plans above stay as they were.
        stories += [self.rectification_story(r) for r in self.plan_rectifications()]
        stories += self.plan_rounds()
        self.simulate(stories)
        self.settle(self.eventually, what="the last effects")
        self.federation.set_clock(SystemClock().now())
        self.report.overdue = self.count_overdue()
        self.report.seconds = time.monotonic() - began
        self.report.requests = self.api.requests
        for line in self.report.lines():
            self.log(line)
        return self.report

    def simulate(self, stories: list[Story]) -> None:
        """Run every story's steps in time order. A blocking step's effects are awaited before
        the clock runs more than ``WAIT_AT_MOST`` past it; then its story goes on."""
        heap: list[tuple[datetime, int, Step, Story]] = []

        def resume(story: Story) -> None:
            step = next(story, None)
            if step is not None:
                heapq.heappush(heap, (step.at, next(self._seq), step, story))

        def settled(step: Step, story: Story) -> None:
            if step.forks is not None:
                for fork in step.forks():
                    resume(fork)
            resume(story)

        for story in stories:
            resume(story)
        while heap:
            horizon: datetime | None = None
            blocked: list[tuple[Step, Story, list[Expect]]] = []
            while heap and (horizon is None or heap[0][0] < horizon):
                at, _seq, step, story = heapq.heappop(heap)
                self.clock_to(at)
                expects = step.run()
                if step.blocking or step.forks is not None:
                    blocked.append((step, story, expects))
                    limit = at + step.settle_within
                    horizon = limit if horizon is None else min(horizon, limit)
                else:
                    self.eventually.extend(expects)
                    settled(step, story)
            if blocked:
                self.settle([e for _s, _st, ex in blocked for e in ex], what="effects")
                for step, story, _ in blocked:
                    settled(step, story)

    def count_overdue(self) -> int:
        """Addressees past their deadline with work still owed, as the issuers see them now."""
        overdue = 0
        for node in self.nodes:
            if self.topology.children(node):
                page = self.api.fetch(node, "inspector", "/api/v1/orders?box=issued&limit=200")
                overdue += sum(
                    1 for order in page["items"] for t in order["targets"] if t["overdue"]
                )
        return overdue

    def settle(self, expects: list[Expect], *, what: str) -> None:
        """Poll until every expected effect has arrived (one GET per node, role and path per
        round); fail after ``SETTLE_TIMEOUT_S``."""
        pending = list(expects)
        began = time.monotonic()
        deadline = began + SETTLE_TIMEOUT_S
        self.report.waits += 1
        delay = 0.1
        if pending:
            time.sleep(FIRST_LOOK_S)  # one hop takes about this long: no request in vain
        while pending:
            fetched: dict[tuple[str, str, str], Any] = {}
            still: list[Expect] = []
            for expect in pending:
                key = (expect.node, expect.role, expect.path)
                if key not in fetched:
                    fetched[key] = self.api.fetch(*key)
                if not expect.holds(fetched[key]):
                    still.append(expect)
            pending = still
            if not pending:
                self.report.waited_s += time.monotonic() - began
                return
            if time.monotonic() > deadline:
                raise SeedingError(
                    f"timed out waiting for {what}: {', '.join(e.what for e in pending[:5])}"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    # -- records ----------------------------------------------------------------------------

    def plan_records(self) -> None:
        rng = self.rng
        weights = {"central": 5, "province": 14, "city": 22, "county": 30}
        origins = self.nodes
        origin_weights = [weights[self.kind[n]] for n in origins]
        codes = [c.code for c in self.categories.all()]
        # Every category at least once, at a node that writes it; then as the tiers do.
        firsts = [(self._author_of(code), code) for code in codes]
        for index in range(self.size.records):
            if index < len(firsts):
                origin, category = firsts[index]
            else:
                (origin,) = rng.choices(origins, weights=origin_weights)
                category = self._category_for(origin)
            at = self.office_time(self.random_day(self.start, self.end - timedelta(days=1)))
            self.records.append(self._record(origin, category, at))
        self.records.sort(key=lambda r: r.at)
        # Some are edited later (a fuller text, or a party added), a few deleted (duplicates);
        # at least one of each.
        for record in self.records:
            roll = rng.random()
            if roll < 0.09 and record.at < self.end - timedelta(days=10):
                self._plan_edit(record)
            elif roll < 0.12 and record.at < self.end - timedelta(days=3):
                record.delete_at = self.after(record.at, 1, 20)
        untouched = [
            r
            for r in self.records
            if r.edit_at is None and r.delete_at is None and r.at < self.end - timedelta(days=30)
        ]
        if not any(r.edit_at for r in self.records) and untouched:
            self._plan_edit(untouched.pop(0))
        if not any(r.delete_at for r in self.records) and untouched:
            record = untouched.pop()
            record.delete_at = self.after(record.at, 1, 20)

    def _plan_edit(self, record: PlannedRecord) -> None:
        record.edit_at = self.after(record.at, 3, 40)
        record.edit = self._edit(record)

    def _author_of(self, category: str) -> str:
        """A node of a tier that writes ``category``, as often as that tier writes it."""
        nodes = [n for n in self.nodes if CATEGORY_WEIGHTS[self.kind[n]].get(category)]
        weights = [CATEGORY_WEIGHTS[self.kind[n]][category] for n in nodes]
        (node,) = self.rng.choices(nodes, weights=weights)
        return node

    def _category_for(self, origin: str) -> str:
        table = CATEGORY_WEIGHTS[self.kind[origin]]
        (category,) = self.rng.choices(list(table), weights=list(table.values()))
        return category

    def _parties(self, origin: str, classification: str) -> list[str]:
        """Restricted: the tier above (sometimes two), or for a city the counties below; secret:
        mostly none (its ancestors get stubs anyway), sometimes a neighbouring county."""
        rng = self.rng
        ancestors = self.topology.ancestors(origin)
        children = self.topology.children(origin)
        parent = self.topology.parent(origin)
        if classification == "restricted":
            if children and (not ancestors or rng.random() < 0.5):
                return sorted(rng.sample(children, k=rng.randint(1, len(children))))
            if ancestors:
                upper = [n for n in ancestors if self.kind[n] != "central"] or ancestors
                return sorted(upper[: rng.randint(1, min(2, len(upper)))])
            return []
        if classification == "secret" and parent is not None and rng.random() < 0.15:
            siblings = [n for n in self.topology.children(parent) if n != origin]
            return siblings[:1]
        return []

    def _record(self, origin: str, category: str, at: datetime) -> PlannedRecord:
        rng = self.rng
        category_info = self.categories.get(category)
        assert category_info is not None
        classification = category_info.min_class
        if classification == "general" and category == "practice" and rng.random() < 0.12:
            classification = "restricted"  # raised: an experience shared only upwards
        elif classification == "restricted" and rng.random() < 0.05:
            classification = "secret"
        title, body = self._text(origin, category, at)
        return PlannedRecord(
            origin=origin,
            category=category,
            classification=classification,
            title=title,
            body=body,
            parties=self._parties(origin, classification),
            at=at,
        )

    def _text(self, origin: str, category: str, at: datetime) -> tuple[str, str]:
        rng = self.rng
        kind = self.kind[origin]
        units = UNITS[kind if kind != "central" else "province"]
        values = {
            "node": self.name[origin],
            "office": OFFICE[kind],
            "group": GROUP[kind],
            "unit": rng.choice(units),
            "theme": rng.choice(THEMES),
            "issue": rng.choice(ISSUES),
            "person": rng.choice(PERSONS),
            "person2": rng.choice(PERSONS),
            "post": rng.choice(POSTS),
            "material": rng.choice(MATERIALS),
            "dept": rng.choice(DEPARTMENTS[kind]),
            "area": rng.choice(FINDING_AREAS),
            "area2": rng.choice(FINDING_AREAS),
            "penalty": rng.choice(PENALTIES),
            "penalty2": rng.choice(PENALTIES),
            "trick": rng.choice(TRICKS),
            "round": _round_name(at),
            "year": at.astimezone(CST).year,
            "month": at.astimezone(CST).month,
            "n": rng.randint(3, 18),
            "m": rng.randint(1, 9),
            "k": rng.randint(1, 4),
            "p": rng.randint(62, 98),
            "q": rng.randint(12, 45),
            "money": round(rng.uniform(0.8, 86.0), 1),
            "lower": {"central": "省区市", "province": "市县", "city": "县区"}.get(kind, "乡镇"),
        }
        title_template = rng.choice(TITLES[category])
        body_template = rng.choice(BODIES[category])
        return title_template.format(**values), body_template.format(**values)

    def _edit(self, record: PlannedRecord) -> dict[str, Any]:
        if record.classification == "restricted":
            wider = sorted(
                set(record.parties) | set(self.topology.ancestors(record.origin)) - {"central"}
            )
            if wider != record.parties and self.rng.random() < 0.5:
                return {"parties": wider}
        addition = self.rng.choice(
            [
                "【补充】经进一步核实,相关数据已更新。",
                "【更新】已根据上级反馈意见修改完善。",
                "【补充】附件材料已补齐,整改时限调整为本季度末。",
            ]
        )
        return {"body": f"{record.body}\n{addition}"}

    def record_story(self, record: PlannedRecord) -> Story:
        def create() -> list[Expect]:
            body: dict[str, Any] = {
                "category": record.category,
                "classification": record.classification,
                "title": record.title,
                "body": record.body,
                "parties": record.parties,
            }
            made = self.api.call("POST", record.origin, "inspector", "/api/v1/records", body=body)
            record.id = made["id"]
            self.report.records[record.category] += 1
            self.report.classes[record.classification] += 1
            return []

        yield Step(record.at, create, blocking=False)
        if record.edit_at is not None and record.edit is not None:
            edit = record.edit

            def update() -> list[Expect]:
                self.api.call(
                    "PATCH",
                    record.origin,
                    "inspector",
                    f"/api/v1/records/{record.id}?origin={record.origin}",
                    body=edit,
                )
                self.report.edits += 1
                return []

            yield Step(record.edit_at, update, blocking=False)
        if record.delete_at is not None and not record.reserved:

            def delete() -> list[Expect]:
                self.api.call(
                    "DELETE",
                    record.origin,
                    "inspector",
                    f"/api/v1/records/{record.id}?origin={record.origin}",
                )
                self.report.deletions += 1
                return []

            yield Step(record.delete_at, delete, blocking=False)

    def pick_record(
        self,
        *,
        origin: str | None = None,
        categories: tuple[str, ...] | None = None,
        classification: str | None = None,
        before: datetime,
        unused: bool = False,
    ) -> PlannedRecord | None:
        """A planned record made well before ``before`` that is not to be deleted (``unused``:
        nor used by another story); reserved so that it never is."""
        candidates = [
            r
            for r in self.records
            if (origin is None or r.origin == origin)
            and (categories is None or r.category in categories)
            and (classification is None or r.classification == classification)
            and r.at < before - timedelta(days=10)
            and r.delete_at is None
            and not (unused and r.reserved)
        ]
        if not candidates:
            return None
        record = self.rng.choice(candidates)
        record.reserved = True
        return record

    # -- orders ---------------------------------------------------------------------------------

    def plan_orders(self) -> list[PlannedOrder]:
        """Orders from each tier with children; the first ones stop in each state (some late),
        two carry a case-secret clue of the issuer (granted to the handler after approval)."""
        rng = self.rng
        issuers = [n for n in self.nodes if self.topology.children(n)]
        showcase: list[tuple[str, bool, bool]] = [  # (final state, late, carries a secret clue)
            ("closed", False, False),
            ("accepted", False, False),
            ("reported", False, False),
            ("returned", True, False),
            ("in_progress", True, False),
            ("in_progress", False, False),
            ("acknowledged", False, False),
            ("received", True, False),
            ("closed", False, True),
            ("in_progress", False, True),
        ]
        finals = ["closed"] * 5 + ["accepted", "reported", "in_progress", "in_progress"]
        finals += ["acknowledged", "returned", "received"]
        orders: list[PlannedOrder] = []
        for index in range(self.size.orders):
            if index < len(showcase):
                final, late, secret = showcase[index]
            else:
                final, late, secret = rng.choice(finals), rng.random() < 0.4, False
            # Secret-carrying orders come from the province, which writes problem clues.
            issuer = issuers[1] if secret else issuers[index % len(issuers)]
            orders.append(self._order(issuer, final, late, secret))
        return orders

    def _addressees(self, issuer: str) -> list[str]:
        rng = self.rng
        counties = sorted(
            n for n in self.topology.subtree(issuer) - {issuer} if self.kind[n] == "county"
        )
        if self.kind[issuer] == "central" or not counties or rng.random() < 0.6:
            return [rng.choice(self.topology.children(issuer))]
        return sorted(rng.sample(counties, k=rng.randint(1, len(counties))))

    def _order(self, issuer: str, final: str, late: bool, secret: bool) -> PlannedOrder:
        rng = self.rng
        addressees = self._addressees(issuer)
        open_first = final in OPEN_FINALS
        mode = ("late" if late else "ontime") if open_first else "done"
        # The first addressee shows ``final``; the others stop where the mode allows.
        others = {
            "late": ["closed", "accepted", "reported", "in_progress", "returned", "acknowledged"],
            "ontime": ["received", "acknowledged", "in_progress", "reported"],
            "done": ["closed", "accepted", "reported", "in_progress", "returned"],
        }[mode]
        finals = [final] + [rng.choice(others) for _ in addressees[1:]]
        drafts = [self._path_offsets(f) for f in finals]
        longest = max((offsets[-1][0] for offsets in drafts if offsets), default=0.0)
        earliest = self.start + timedelta(days=2)
        latest = self.end - timedelta(days=longest + 2)
        if mode == "late":
            deadline_days = rng.uniform(20, 40)
            latest = min(latest, self.end - timedelta(days=deadline_days + 3))
        elif mode == "ontime":
            earliest = max(earliest, self.end - timedelta(days=70))
        latest = max(latest, earliest + timedelta(days=1))
        issued = self.office_time(self.random_day(earliest, latest))
        if mode == "ontime":
            # Open and on time: the deadline is still ahead.
            ahead = (self.end - issued).total_seconds() / 86400
            deadline_days = rng.uniform(ahead + 3, ahead + 40)
        elif mode == "done":
            deadline_days = rng.uniform(25, 60)
        deadline = issued + timedelta(days=deadline_days)
        theme = rng.choice(THEMES)
        units = [rng.choice(UNITS[self.kind[a]]) for a in addressees]
        unit_names = [
            f"{self.name[a]}{unit.removeprefix('县').removeprefix('市')}"
            for a, unit in zip(addressees, units, strict=True)
        ]
        title = rng.choice(ORDER_TITLES).format(
            unit=unit_names[0] if len(addressees) == 1 else "相关单位", theme=theme
        )
        order = PlannedOrder(
            issuer=issuer,
            addressees=addressees,
            title=title,
            units=unit_names,
            focus=[*rng.sample(ISSUES, k=2), f"{theme}政策落实"],
            at=issued,
            deadline=deadline,
            paths=[
                TargetPath(
                    addressee=addressee,
                    final=f,
                    steps=self._path_steps(issued, offsets, addressee, issuer, unit_name),
                )
                for addressee, f, offsets, unit_name in zip(
                    addressees, finals, drafts, unit_names, strict=True
                )
            ],
        )
        if secret:
            order.secret = self.pick_record(
                origin=issuer, categories=("problem_clue",), before=issued
            ) or self.add_record(issuer, "problem_clue", issued - timedelta(days=12))
        general = self.pick_record(origin=issuer, classification="general", before=issued)
        if general is not None and rng.random() < 0.6:
            order.attachments.append(general)
        return order

    def add_record(self, origin: str, category: str, around: datetime) -> PlannedRecord:
        """A record planned for a story that needs one (reserved: never deleted)."""
        record = self._record(origin, category, self.office_time(around))
        category_info = self.categories.get(category)
        assert category_info is not None
        record.classification = category_info.min_class
        record.parties = []
        record.reserved = True
        self.records.append(record)
        return record

    def _path_offsets(self, final: str) -> list[tuple[float, str]]:
        """(days after issue, action) up to ``final``; ``received`` happens on arrival."""
        rng = self.rng
        steps: list[tuple[float, str]] = []
        if final == "received":
            return steps
        day = rng.uniform(1, 4)
        steps.append((day, "acknowledge"))
        if final == "acknowledged":
            return steps
        for _ in range(rng.randint(1, 2)):
            day += rng.uniform(5, 14)
            steps.append((day, "progress"))
        if final == "in_progress":
            return steps
        day += rng.uniform(5, 15)
        steps.append((day, "report"))
        if final == "returned" or (final == "closed" and rng.random() < 0.3):
            day += rng.uniform(2, 7)
            steps.append((day, "return"))
            if final == "returned":
                return steps
            day += rng.uniform(4, 10)
            steps.append((day, "progress"))
            day += rng.uniform(4, 10)
            steps.append((day, "report"))
        if final == "reported":
            return steps
        day += rng.uniform(2, 8)
        steps.append((day, "accept"))
        if final == "accepted":
            return steps
        day += rng.uniform(3, 20)
        steps.append((day, "close"))
        return steps

    def _path_steps(
        self,
        issued: datetime,
        offsets: list[tuple[float, str]],
        addressee: str,
        issuer: str,
        unit: str,
    ) -> list[tuple[datetime, str, dict[str, Any]]]:
        rng = self.rng
        steps: list[tuple[datetime, str, dict[str, Any]]] = []
        for days, action in offsets:
            at = self.office_time(issued + timedelta(days=days))
            values = {
                "unit": unit,
                "issuer": self.name[issuer],
                "group": GROUP[self.kind[addressee]],
                "n": rng.randint(3, 16),
                "m": rng.randint(1, 6),
                "k": rng.randint(2, 12),
                "x": rng.randint(8, 40),
                "material": rng.choice(MATERIALS),
            }
            body: dict[str, Any]
            if action == "report":
                body = {
                    "title": f"关于{unit}靶向巡察情况的报告",
                    "body": rng.choice(REPORT_BODIES).format(**values),
                }
            elif action in ISSUER_ACTIONS:
                body = {"addressee": addressee, "note": rng.choice(NOTES[action]).format(**values)}
            else:
                body = {"note": rng.choice(NOTES[action]).format(**values)}
            steps.append((at, action, body))
        return steps

    def order_story(self, order: PlannedOrder) -> Story:
        issuer = order.issuer

        def issue() -> list[Expect]:
            attachments = [r.id for r in order.attachments if r.id]
            if order.secret is not None and order.secret.id:
                attachments.append(order.secret.id)
            body = {
                "title": order.title,
                "addressees": order.addressees,
                "inspected_units": order.units,
                "focus_issues": order.focus,
                "attachments": attachments,
                "request_secret_access": order.secret is not None,
                "deadline": order.deadline.isoformat(),
            }
            made = self.api.call("POST", issuer, "inspector", "/api/v1/orders", body=body)
            order.id = made["id"]
            self.report.orders += 1
            expects = []
            for addressee in order.addressees:
                expects.append(self._target_expect(order, addressee, addressee, 2))
                expects.append(self._target_expect(order, issuer, addressee, 2))
            return expects

        def forks() -> list[Story]:
            stories = [self.target_story(order, path) for path in order.paths]
            if order.secret is not None:
                stories.append(self.order_approval_story(order))
            return stories

        yield Step(order.at, issue, blocking=True, forks=forks, settle_within=timedelta(minutes=5))

    def _target_expect(
        self, order: PlannedOrder, node: str, addressee: str, version: int
    ) -> Expect:
        order_id = order.id

        def holds(page: Any) -> bool:
            for item in (page or {}).get("items", []):
                if item["id"] == order_id:
                    return any(
                        t["addressee"] == addressee and t["version"] >= version
                        for t in item["targets"]
                    )
            return False

        return Expect(
            node, "inspector", "/api/v1/orders?limit=200", holds, f"order {order_id} at {node}"
        )

    def order_approval_story(self, order: PlannedOrder) -> Story:
        """The order carries a case-secret clue of the issuer: its approvers (two for a problem
        clue) approve each addressee's request before the handler acknowledges (DESIGN §6)."""
        clue = order.secret
        assert clue is not None

        def approve() -> list[Expect]:
            path = f"/api/v1/access-requests?record_id={clue.id}&status=pending"
            requests = self.api.call("GET", order.issuer, "approver", path)["items"]
            for request in requests:
                for approver in ("approver", "approver-2")[: request["approvals_needed"] or 1]:
                    self.api.call(
                        "POST",
                        order.issuer,
                        approver,
                        f"/api/v1/access-requests/{request['id']}/approve",
                        body={"comment": "同意,仅限办理本督办指令使用,办结后收回。"},
                    )
                self.report.access["order_approved"] += 1
            return []

        yield Step(order.at + timedelta(hours=self.rng.uniform(2, 20)), approve, blocking=False)

    def target_story(self, order: PlannedOrder, path: TargetPath) -> Story:
        addressee = path.addressee
        steps = list(path.steps)
        if order.secret is not None and steps:
            # The handler reads the clue once the grant has reached the county.
            ack_at = steps[0][0]
            steps.insert(1, (ack_at + timedelta(hours=self.rng.uniform(1, 5)), "read", {}))
        for index, (at, action, body) in enumerate(steps):
            at_issuer = action in ISSUER_ACTIONS
            following = steps[index + 1][1] if index + 1 < len(steps) else None
            blocking = following is not None and (
                following == "read" or (following in ISSUER_ACTIONS) != at_issuer
            )
            if action == "read":
                yield Step(at, self._read_order_clue(order, addressee), blocking=False)
                continue
            yield Step(
                at,
                self._order_action(order, addressee, action, body, wait_grant=following == "read"),
                blocking=blocking,
            )
        self.report.targets[path.final] += 1

    def _order_action(
        self,
        order: PlannedOrder,
        addressee: str,
        action: str,
        body: dict[str, Any],
        *,
        wait_grant: bool,
    ) -> Callable[[], list[Expect]]:
        at_issuer = action in ISSUER_ACTIONS
        node, other = (order.issuer, addressee) if at_issuer else (addressee, order.issuer)

        def act() -> list[Expect]:
            done = self.api.call(
                "POST", node, "inspector", f"/api/v1/orders/{order.id}/{action}", body=body
            )
            (target,) = [t for t in done["targets"] if t["addressee"] == addressee]
            expects = [self._target_expect(order, other, addressee, target["version"])]
            if wait_grant and order.secret is not None:
                clue_id = order.secret.id

                def granted(page: Any) -> bool:
                    return any(g["status"] == "active" for g in (page or {}).get("items", []))

                expects.append(
                    Expect(
                        addressee,
                        "security_officer",
                        f"/api/v1/grants?record_id={clue_id}",
                        granted,
                        "the order's grant",
                    )
                )
            return expects

        return act

    def _read_order_clue(self, order: PlannedOrder, addressee: str) -> Callable[[], list[Expect]]:
        clue = order.secret
        assert clue is not None

        def read() -> list[Expect]:
            path = f"/api/v1/records/{clue.id}?origin={clue.origin}"
            if self.api.call("GET", addressee, "inspector", path).get("stub"):
                raise SeedingError(f"the clue of order {order.id} is not readable at {addressee}")
            self.report.reads += 1
            return []

        return read

    # -- ledger -----------------------------------------------------------------------------------

    def plan_ledger(self) -> list[PlannedLedgerItem]:
        """Clue transfers (移交) tracked to the department's feedback and 销号; some still open,
        some of those past their feedback deadline."""
        rng = self.rng
        holders = [n for n in self.nodes if self.kind[n] != "central"]
        weights = [{"county": 5, "city": 3, "province": 1}[self.kind[n]] for n in holders]
        firsts = ["closed", "responded", "overdue", "transferred"]
        later = ["closed", "closed", "closed", "responded", "overdue", "transferred"]
        items = []
        for index in range(self.size.ledger_items):
            (node,) = rng.choices(holders, weights=weights)
            outcome = firsts[index] if index < len(firsts) else rng.choice(later)
            deadline_days = rng.uniform(30, 60)
            if outcome == "transferred":  # open, its deadline still ahead
                low, high = self.end - timedelta(days=deadline_days - 2), self.end
            else:
                low = self.start + timedelta(days=15)
                high = self.end - timedelta(days=deadline_days + 5)
            at = self.office_time(self.random_day(low, max(high, low + timedelta(days=1))))
            clue = self.pick_record(origin=node, categories=("problem_clue", "petition"), before=at)
            kind = self.kind[node]
            dept = rng.choice(DEPARTMENTS[kind])
            person = rng.choice(PERSONS)
            feedback_at = self.after(at, 10, deadline_days - 3)
            items.append(
                PlannedLedgerItem(
                    node=node,
                    at=at,
                    outcome=outcome,
                    clue=clue,
                    title=f"移交{rng.choice(UNITS[kind])}{person}{rng.choice(ISSUES)}问题线索",
                    department=dept,
                    responsible=f"{OFFICE[kind]} {rng.choice(PERSONS)}",
                    deadline=at + timedelta(days=deadline_days),
                    feedback=rng.choice(LEDGER_FEEDBACK).format(
                        dept=dept, person=person, money=round(rng.uniform(0.5, 30), 1)
                    ),
                    feedback_at=feedback_at if outcome in ("closed", "responded") else None,
                    close_at=self.after(feedback_at, 2, 15) if outcome == "closed" else None,
                )
            )
        return items

    def ledger_story(self, item: PlannedLedgerItem) -> Story:
        node = item.node
        state: dict[str, str] = {}

        def create() -> list[Expect]:
            body: dict[str, Any] = {
                "title": item.title,
                "department": item.department,
                "responsible": item.responsible,
                "feedback_deadline": item.deadline.isoformat(),
            }
            if item.clue is not None and item.clue.id:
                body.update(clue_record_id=item.clue.id, clue_record_origin=item.clue.origin)
            made = self.api.call("POST", node, "inspector", "/api/v1/ledger", body=body)
            state["id"] = made["id"]
            self.report.ledger[item.outcome] += 1
            return []

        yield Step(item.at, create, blocking=False)
        if item.feedback_at is not None:

            def feedback() -> list[Expect]:
                path = f"/api/v1/ledger/{state['id']}/feedback"
                self.api.call("POST", node, "inspector", path, body={"note": item.feedback})
                return []

            yield Step(item.feedback_at, feedback, blocking=False)
        if item.close_at is not None:

            def close() -> list[Expect]:
                path = f"/api/v1/ledger/{state['id']}/close"
                note = {"note": "处置结果已反馈,同意销号。"}
                self.api.call("POST", node, "inspector", path, body=note)
                return []

            yield Step(item.close_at, close, blocking=False)

    # -- rectification ----------------------------------------------------------------------------

    def plan_rectifications(self) -> list[PlannedRectification]:
        """Findings turned into demands (整改意见) to an inspected unit; each demand stops in one
        state: reported, returned, accepted, closed off with evidence, reopened by 回头看, still
        issued, or overdue (no report by its deadline)."""
        rng = random.Random(SEED + 13)
        nodes = [n for n in self.nodes if self.topology.parent(n) is not None]
        weights = [{"county": 5, "city": 3, "province": 1}[self.kind[n]] for n in nodes]
        showcase = [
            ["closed", "overdue", "reported"],
            ["closed", "returned", "issued"],
            ["reopened", "accepted", "overdue"],
        ]
        pool = [
            "closed",
            "closed",
            "closed",
            "overdue",
            "reported",
            "accepted",
            "returned",
            "issued",
        ]
        plans = []
        for index in range(self.size.rectifications):
            (node,) = rng.choices(nodes, weights=weights)
            kind = self.kind[node]
            unit = rng.choice(UNITS[kind])
            outcomes = (
                showcase[index]
                if index < len(showcase)
                else [rng.choice(pool) for _ in range(rng.randint(1, 3))]
            )
            low, high = self.start + timedelta(days=5), self.end - timedelta(days=50)
            at = self.office_time(self.random_day(low, max(high, low + timedelta(days=1))))
            demands = [self._plan_demand(rng, at, outcome, unit) for outcome in outcomes]
            areas = rng.sample(FINDING_AREAS, k=min(len(FINDING_AREAS), len(demands) + 1))
            plans.append(
                PlannedRectification(
                    node=node,
                    at=at,
                    unit=unit,
                    finding_title=f"{GROUP[kind]}关于{unit}的巡察反馈问题",
                    finding_body="巡察发现的主要问题："
                    + "；".join(f"{a}方面存在不足" for a in areas),
                    demands=demands,
                )
            )
        return plans

    def _plan_demand(
        self, rng: random.Random, at: datetime, outcome: str, unit: str
    ) -> PlannedDemand:
        def after(moment: datetime, low: float, high: float) -> datetime:
            return self.office_time(moment + timedelta(days=rng.uniform(low, high)))

        area = rng.choice(FINDING_AREAS)
        content = f"针对{area}方面的问题，{unit}要制定整改方案、明确时限，逐项整改并报送整改情况"
        steps: list[tuple[datetime, str]] = []
        if outcome == "overdue":
            deadline = at + timedelta(days=rng.uniform(15, 30))
        elif outcome in ("issued", "returned"):
            deadline = self.end + timedelta(days=rng.uniform(10, 40))
        else:
            deadline = at + timedelta(days=rng.uniform(25, 45))
        reopen_deadline = None
        if outcome not in ("issued", "overdue"):
            reported = after(at, 4, 12)
            steps.append((reported, "report"))
            if outcome == "returned":
                steps.append((after(reported, 2, 6), "return"))
            elif outcome != "reported":
                accepted = after(reported, 2, 7)
                steps.append((accepted, "accept"))
                if outcome in ("closed", "reopened"):
                    closed = after(accepted, 1, 5)
                    steps.append((closed, "close"))
                    if outcome == "reopened":
                        steps.append((after(closed, 4, 12), "reopen"))
                        reopen_deadline = self.end + timedelta(days=rng.uniform(20, 40))
        return PlannedDemand(
            content=content,
            responsible=f"{unit}主要负责人 {rng.choice(PERSONS)}",
            deadline=deadline,
            outcome=outcome,
            steps=steps,
            reopen_deadline=reopen_deadline,
        )

    def rectification_story(self, plan: PlannedRectification) -> Story:
        node = plan.node
        parent = self.topology.parent(node)
        ids: list[str] = []
        reports: dict[int, str] = {}

        def create() -> list[Expect]:
            finding = self.api.call(
                "POST",
                node,
                "inspector",
                "/api/v1/records",
                body={
                    "category": "inspection_finding",
                    "title": plan.finding_title,
                    "body": plan.finding_body,
                    "parties": [parent],
                },
            )
            made = self.api.call(
                "POST",
                node,
                "inspector",
                "/api/v1/rectifications",
                body={
                    "finding_record_id": finding["id"],
                    "unit_name": plan.unit,
                    "demands": [
                        {
                            "content": d.content,
                            "responsible": d.responsible,
                            "deadline": d.deadline.isoformat(),
                        }
                        for d in plan.demands
                    ],
                },
            )
            ids.extend(item["id"] for item in made["items"])
            for demand in plan.demands:
                self.report.rectification[demand.outcome] += 1
            return []

        def step(index: int, action: str) -> Callable[[], list[Expect]]:
            demand = plan.demands[index]

            def run() -> list[Expect]:
                path = f"/api/v1/rectifications/{ids[index]}/{action}"
                if action == "report":
                    body: dict[str, Any] = {
                        "title": f"{plan.unit}关于巡察反馈问题整改情况的报告",
                        "body": f"已对照整改意见逐项整改：{demand.content}。整改措施已落实到位。",
                    }
                    made = self.api.call("POST", node, "inspector", path, body=body)
                    reports[index] = made["report_record_id"]
                elif action == "return":
                    note = {"note": "整改措施不够具体，请补充完善后重新报送"}
                    self.api.call("POST", node, "inspector", path, body=note)
                elif action == "accept":
                    note = {"note": "整改到位，评估通过"}
                    self.api.call("POST", node, "approver", path, body=note)
                elif action == "close":
                    body = {
                        "evidence": [{"record_id": reports[index], "record_origin": node}],
                        "note": "整改材料齐全，予以销号",
                    }
                    self.api.call("POST", node, "inspector", path, body=body)
                else:
                    assert demand.reopen_deadline is not None
                    body = {
                        "unit_name": plan.unit,
                        "ids": [ids[index]],
                        "deadline": demand.reopen_deadline.isoformat(),
                        "note": "开展整改回头看，复查整改成效",
                    }
                    self.api.call(
                        "POST", node, "inspector", "/api/v1/rectifications/lookback", body=body
                    )
                return []

            return run

        yield Step(plan.at, create, blocking=False)
        planned = sorted(
            (at, index, action)
            for index, demand in enumerate(plan.demands)
            for at, action in demand.steps
        )
        for at, index, action in planned:
            yield Step(at, step(index, action), blocking=False)

    # -- inspected units, rounds and a synchronised launch ----------------------------------------

    def plan_rounds(self) -> list[Story]:
        """Each node lists its inspected units and runs rounds on them: a regular round completed
        with problems found, a special round in progress, the next regular round planned, a
        look-back (回头看) at a county; the province launches a synchronised special round for
        its counties: the first starts it in time and reports problems, the second links a round
        but has not started it past the start date (late)."""
        rng = random.Random(SEED + 17)
        units: dict[str, dict[str, str]] = {n: {} for n in self.nodes}
        stories: list[Story] = [self.units_story(node, units[node]) for node in self.nodes]
        span = self.end - self.start
        for node in self.nodes:
            names = UNITS[self.kind[node]]
            first = names[: max(1, len(names) * 2 // 5)]
            second = names[len(first) : len(first) + max(1, len(names) // 4)]
            third = names[len(first) + len(second) :] or names[-1:]
            group = GROUP[self.kind[node]]
            word = "巡视" if self.kind[node] in ("province", "central") else "巡察"
            regular_at = self.office_time(self.start + span * rng.uniform(0.22, 0.3))
            stories.append(
                self.round_story(
                    node,
                    units[node],
                    first,
                    kind="regular",
                    title=f"{_round_name(regular_at)}常规{word}",
                    theme="落实全面从严治党主体责任和党中央决策部署情况",
                    group=f"{group.removesuffix('组')}第一组",
                    at=regular_at,
                    steps=[(5, "start"), (18, "progress"), (40, "complete")],
                    problems=rng.randint(6, 24),
                )
            )
            theme = rng.choice(THEMES)
            special_at = self.office_time(self.start + span * rng.uniform(0.55, 0.62))
            stories.append(
                self.round_story(
                    node,
                    units[node],
                    second,
                    kind="special",
                    title=f"{theme}领域专项{word}",
                    theme=f"{theme}领域突出问题",
                    group=f"{group.removesuffix('组')}第二组",
                    at=special_at,
                    steps=[(4, "start"), (12, "progress")],
                    problems=rng.randint(2, 9),
                )
            )
            next_at = self.office_time(self.end - timedelta(days=rng.uniform(6, 10)))
            stories.append(
                self.round_story(
                    node,
                    units[node],
                    third,
                    kind="regular",
                    title=f"下一轮常规{word}",
                    theme="落实全面从严治党主体责任和党中央决策部署情况",
                    group=f"{group.removesuffix('组')}第三组",
                    at=next_at,
                    steps=[],
                    problems=0,
                    begins=self.end + timedelta(days=15),
                )
            )
            if self.kind[node] == "county":
                lookback_at = self.office_time(regular_at + timedelta(days=55))
                stories.append(
                    self.round_story(
                        node,
                        units[node],
                        first[:2],
                        kind="lookback",
                        title="巡察整改“回头看”",
                        theme="上一轮巡察反馈问题整改落实情况",
                        group=f"{group.removesuffix('组')}第一组",
                        at=lookback_at,
                        steps=[(3, "start"), (16, "complete")],
                        problems=rng.randint(0, 3),
                    )
                )
        stories += self.launch_stories(rng, units)
        return stories

    def units_story(self, node: str, ids: dict[str, str]) -> Story:
        def create() -> list[Expect]:
            for name in UNITS[self.kind[node]]:
                body = {"name": name, "kind": _unit_kind(name), "sector": _unit_sector(name)}
                made = self.api.call(
                    "POST", node, "inspector", "/api/v1/inspected-units", body=body
                )
                ids[name] = made["id"]
                self.report.units += 1
            parent = self.topology.parent(node)
            if parent is None:
                return []
            count = len(ids)

            def holds(data: Any) -> bool:
                found = [n for n in (data or {}).get("by_node", []) if n["node"] == node]
                return bool(found) and found[0]["units_total"] == count

            path = "/api/v1/inspection-rounds/coverage"
            return [Expect(parent, "inspector", path, holds, f"{node}'s units at {parent}")]

        yield Step(self.office_time(self.start + timedelta(days=1)), create, blocking=False)

    def round_story(
        self,
        node: str,
        ids: dict[str, str],
        names: list[str],
        *,
        kind: str,
        title: str,
        theme: str,
        group: str,
        at: datetime,
        steps: list[tuple[float, str]],
        problems: int,
        begins: datetime | None = None,
        launch: dict[str, str] | None = None,
    ) -> Story:
        """One round at ``node``: planned at ``at`` (its period from ``begins``, default then),
        then each (days after ``at``, action) that falls within the history."""
        state: dict[str, str] = {}
        start_day = (begins or at).astimezone(CST).date()

        def plan() -> list[Expect]:
            body: dict[str, Any] = {
                "kind": kind,
                "title": title,
                "theme": theme,
                "inspection_group": group,
                "period_start": start_day.isoformat(),
                "period_end": (start_day + timedelta(days=45)).isoformat(),
                "unit_ids": [ids[n] for n in names],
            }
            if launch is not None:
                body["launch_id"] = launch["id"]
            made = self.api.call("POST", node, "inspector", "/api/v1/inspection-rounds", body=body)
            state["id"] = made["id"]
            state["state"] = "planned"
            self.report.rounds[f"{kind} planned"] += 1
            return []

        def act(action: str, found: int) -> Callable[[], list[Expect]]:
            def run() -> list[Expect]:
                path = f"/api/v1/inspection-rounds/{state['id']}/{action}"
                body = None if action == "start" else {"problems_found": found}
                self.api.call("POST", node, "inspector", path, body=body)
                before = state["state"]
                state["state"] = {"start": "in_progress", "complete": "completed"}.get(
                    action, before
                )
                self.report.rounds[f"{kind} {before}"] -= 1
                self.report.rounds[f"{kind} {state['state']}"] += 1
                return []

            return run

        yield Step(at, plan, blocking=False)
        for index, (days, action) in enumerate(steps):
            moment = self.office_time(at + timedelta(days=days))
            if moment >= self.end - timedelta(hours=1):
                break
            found = problems if action == "complete" else problems * (index + 1) // (len(steps) + 1)
            yield Step(moment, act(action, found), blocking=False)

    def launch_stories(self, rng: random.Random, units: dict[str, dict[str, str]]) -> list[Story]:
        provinces = [n for n in self.nodes if self.kind[n] == "province"]
        if not provinces:
            return []
        launcher = provinces[0]
        counties = [
            n
            for n in self.nodes
            if self.kind[n] == "county" and launcher in self.topology.ancestors(n)
        ][:2]
        if not counties:
            return []
        span = self.end - self.start
        at = self.office_time(self.end - span * 0.35)
        start_by = at + span * 0.1
        theme = "乡村振兴领域资金使用和干部作风"
        launch: dict[str, str] = {}

        def launched() -> list[Expect]:
            body = {
                "kind": "special",
                "title": f"{self.name[launcher]}乡村振兴领域专项巡察同步展开",
                "theme": theme,
                "requirements": "各县（市、区）同步开展专项巡察，按期启动并报送发现问题情况",
                "addressees": counties,
                "start_by": start_by.isoformat(),
                "deadline": (at + span * 0.6).isoformat(),
            }
            path = "/api/v1/inspection-rounds/launches"
            made = self.api.call("POST", launcher, "inspector", path, body=body)
            launch["id"] = made["id"]
            self.report.launches += 1

            def held(data: Any) -> bool:
                return any(item["id"] == launch["id"] for item in (data or {}).get("items", []))

            received = "/api/v1/inspection-rounds/launches?box=received"
            return [Expect(c, "inspector", received, held, f"launch at {c}") for c in counties]

        def forks() -> list[Story]:
            stories = []
            for index, county in enumerate(counties):
                names = UNITS[self.kind[county]][-3:]
                on_time = index == 0
                plan_at = self.office_time(at + (timedelta(days=2) if on_time else span * 0.15))
                stories.append(
                    self.round_story(
                        county,
                        units[county],
                        names,
                        kind="special",
                        title="乡村振兴领域专项巡察（同步）",
                        theme=theme,
                        group=f"{GROUP['county'].removesuffix('组')}第三组",
                        at=plan_at,
                        steps=[(3, "start"), (20, "progress")] if on_time else [],
                        problems=rng.randint(4, 10),
                        launch=launch,
                    )
                )
            return stories

        return [iter([Step(at, launched, blocking=True, forks=forks)])]

    # -- access requests --------------------------------------------------------------------------

    def plan_access(self) -> list[Story]:
        rng = self.rng
        outcomes = [
            "active",
            "expired",
            "revoked",
            "denied",
            "request_expired",
            "pending",
            "pending_partial",
            "active",
        ]
        weights = {
            "expired": 8,
            "active": 1,
            "revoked": 2,
            "denied": 2,
            "request_expired": 2,
            "pending": 1,
        }
        stories: list[Story] = []
        for index in range(self.size.access_requests):
            if index < len(outcomes):
                outcome = outcomes[index]
            else:
                (outcome,) = rng.choices(list(weights), weights=list(weights.values()))
            story = self._access(outcome)
            if story is not None:
                stories.append(story)
        return stories

    def _access_times(self, outcome: str) -> tuple[datetime, datetime | None]:
        """(request time, decision time) for ``outcome``."""
        end, start = self.end, self.start
        if outcome in ("pending", "pending_partial"):
            asked = self.office_time(end - timedelta(days=self.rng.uniform(2, 6)))
            return asked, self.after(asked, 0.5, 1.5) if outcome == "pending_partial" else None
        if outcome == "active":
            decided = self.office_time(end - timedelta(days=self.rng.uniform(1.5, 4)))
            return decided - timedelta(days=self.rng.uniform(1, 3)), decided
        asked = self.office_time(
            self.random_day(start + timedelta(days=20), end - timedelta(days=15))
        )
        if outcome == "request_expired":
            return asked, None
        return asked, self.after(asked, 0.5, 3)

    def _access(self, outcome: str) -> Story | None:
        """A request by a user of a node holding the record's stub: an ancestor of its origin
        (most often the tier right above) or a county it names."""
        rng = self.rng
        needs_two = outcome == "pending_partial"
        categories = ("problem_clue", "petition", "personal_matter_report") if needs_two else None
        # The request's day is drawn again while no unused case-secret record is old enough on
        # it: which records exist by a given day moves with the calendar (the demo ends today),
        # and every outcome must still be shown whatever day the demo is seeded on; failing
        # that, a record another request uses will do (two requests for one record are real).
        record = None
        for unused, _draw in itertools.product((True, False), range(ACCESS_DAY_DRAWS)):
            asked, decided = self._access_times(outcome)
            record = self.pick_record(
                classification="secret", categories=categories, before=asked, unused=unused
            )
            if record is not None:
                break
        if record is None:
            return None
        ancestors = self.topology.ancestors(record.origin)
        holders = [*ancestors, *(p for p in record.parties if p not in ancestors)]
        if not holders:
            return None
        weights = [4 if node == self.topology.parent(record.origin) else 1 for node in holders]
        (requester,) = rng.choices(holders, weights=weights)
        role = "inspector" if rng.random() < 0.8 else "approver"
        kind = self.kind[requester]
        reason = rng.choice(ACCESS_REASONS).format(
            node=self.name[requester], group=GROUP[kind], unit=rng.choice(UNITS[kind])
        )
        respond_s = 3 * 86400 if outcome == "request_expired" else 14 * 86400
        return self._access_story(
            outcome, record, requester, role, reason, asked, decided, respond_s
        )

    def _access_story(
        self,
        outcome: str,
        record: PlannedRecord,
        requester: str,
        role: str,
        reason: str,
        asked: datetime,
        decided: datetime | None,
        respond_s: int,
    ) -> Story:
        rng = self.rng
        origin = record.origin
        state: dict[str, Any] = {}
        # An active grant must outlast the demo's first days; others vary.
        days = 7 if outcome == "active" else rng.choice([3, 5, 7])

        def mine(status: str) -> Expect:
            def holds(page: Any) -> bool:
                return any(
                    r["id"] == state["id"] and r["status"] == status
                    for r in (page or {}).get("items", [])
                )

            return Expect(
                requester, role, "/api/v1/access-requests?limit=500", holds, f"request {status}"
            )

        def request() -> list[Expect]:
            body = {
                "record_id": record.id,
                "record_origin": origin,
                "reason": reason,
                "duration_s": days * 86400,
                "respond_within_s": respond_s,
            }
            listing = "/api/v1/access-requests"
            made = self.api.call("POST", requester, role, listing, body=body, missing_ok=True)
            if made is None:
                # The stub reaches the requester's node long before (the record is 10+ days
                # older); should a slow link still lag, wait for it and ask again.
                stub = f"/api/v1/records/{record.id}?origin={origin}"
                self.settle(
                    [Expect(requester, role, stub, lambda found: found is not None, "a stub")],
                    what="the record's stub",
                )
                made = self.api.call("POST", requester, role, listing, body=body)
            state["id"] = made["id"]
            state["needed"] = made["approvals_needed"] or 1
            self.report.access[outcome] += 1

            def at_origin(page: Any) -> bool:
                return any(r["id"] == state["id"] for r in (page or {}).get("items", []))

            listing = "/api/v1/access-requests?limit=500"
            return [Expect(origin, "approver", listing, at_origin, "the request at its origin")]

        undecided = outcome in ("request_expired", "pending")
        yield Step(asked, request, blocking=not undecided)
        if undecided or decided is None:
            return

        def decide() -> list[Expect]:
            path = f"/api/v1/access-requests/{state['id']}"
            if outcome == "denied":
                comment = rng.choice(DENY_COMMENTS)
                self.api.call("POST", origin, "approver", f"{path}/deny", body={"comment": comment})
                return [mine("denied")]
            count = 1 if outcome == "pending_partial" else state["needed"]
            for approver in ("approver", "approver-2")[:count]:
                comment = rng.choice(APPROVE_COMMENTS)
                self.api.call(
                    "POST", origin, approver, f"{path}/approve", body={"comment": comment}
                )
            return [] if outcome == "pending_partial" else [mine("active")]

        granted = outcome not in ("denied", "pending_partial")
        yield Step(decided, decide, blocking=granted)
        if not granted:
            return
        # From the grant's real start (this story resumes once the grant reached the grantee,
        # at most ``WAIT_AT_MOST`` after the approval): reads and a revocation fall within it.
        start = self.federation.now()
        limit = start + timedelta(days=days) - 2 * WAIT_AT_MOST
        reads = rng.randint(1, 3)
        read_at = start
        for number in range(reads):
            read_at = self.office_time(read_at + timedelta(hours=rng.uniform(0.3, 10)))
            if read_at >= limit:
                read_at = start + timedelta(minutes=20 * (number + 1))

            def read() -> list[Expect]:
                path = f"/api/v1/records/{record.id}?origin={origin}"
                if self.api.call("GET", requester, role, path).get("stub"):
                    raise SeedingError(f"released content of {record.id} is not readable")
                self.report.reads += 1
                return []

            yield Step(read_at, read, blocking=False)
        if outcome == "revoked":

            def revoke() -> list[Expect]:
                found = self.api.call(
                    "GET", origin, "approver", f"/api/v1/access-requests/{state['id']}"
                )
                who = rng.choice(["approver", "security_officer"])
                self.api.call("POST", origin, who, f"/api/v1/grants/{found['grant_id']}/revoke")
                return [mine("revoked")]

            yield Step(read_at + timedelta(hours=rng.uniform(1, 6)), revoke, blocking=False)


def _round_name(moment: datetime) -> str:
    local = moment.astimezone(CST)
    year, month = local.year, local.month
    if month <= 2:
        return f"{year - 1}年第四轮"
    return f"{year}年第{'一二三四'[min(3, (month - 3) // 3)]}轮"


def _unit_kind(name: str) -> str:
    """The kind of a demo unit, from its name."""
    if "村" in name:
        return "village"
    if "镇" in name or "乡" in name:
        return "township"
    if any(word in name for word in ("公司", "集团", "企业")):
        return "state_enterprise"
    return "party_organ"


UNIT_SECTORS = [
    ("水", "水利"),
    ("自然资源", "自然资源"),
    ("住建", "住房城乡建设"),
    ("教育", "教育"),
    ("卫健", "卫生健康"),
    ("农业农村", "农业农村"),
    ("财政", "财政"),
    ("民政", "民政"),
    ("交通", "交通运输"),
    ("林业", "林业"),
    ("市场监管", "市场监管"),
    ("医保", "医疗保障"),
    ("人社", "人力资源社会保障"),
    ("国资", "国有资产监管"),
    ("城投", "国有企业"),
    ("企业", "国有企业"),
    ("村", "村（社区）"),
    ("镇", "乡镇"),
    ("乡", "乡镇"),
]


def _unit_sector(name: str) -> str:
    return next((sector for word, sector in UNIT_SECTORS if word in name), "中央和国家机关")


# -- texts --------------------------------------------------------------------------------------

CATEGORY_WEIGHTS: dict[str, dict[str, int]] = {
    "central": {"policy": 40, "work_requirement": 35, "practice": 25},
    "province": {
        "policy": 10,
        "work_requirement": 14,
        "practice": 8,
        "supervision_check": 10,
        "inspection_finding": 12,
        "political_ecology": 5,
        "accountability": 5,
        "problem_clue": 12,
        "petition": 5,
        "evidence": 3,
        "case_analysis": 4,
        "integrity_consultation": 4,
        "integrity_file": 3,
        "personal_matter_report": 4,
    },
    "city": {
        "policy": 4,
        "work_requirement": 12,
        "practice": 9,
        "supervision_check": 12,
        "inspection_finding": 12,
        "political_ecology": 6,
        "accountability": 6,
        "problem_clue": 14,
        "petition": 9,
        "evidence": 4,
        "case_analysis": 5,
        "integrity_consultation": 5,
        "integrity_file": 3,
        "personal_matter_report": 4,
    },
    "county": {
        "policy": 1,
        "work_requirement": 6,
        "practice": 10,
        "supervision_check": 8,
        "inspection_finding": 14,
        "political_ecology": 5,
        "accountability": 6,
        "problem_clue": 18,
        "petition": 12,
        "evidence": 6,
        "case_analysis": 5,
        "integrity_consultation": 5,
        "integrity_file": 4,
        "personal_matter_report": 5,
    },
}

TITLES: dict[str, list[str]] = {
    "policy": [
        "关于进一步加强巡视巡察上下联动的实施意见",
        "{node}巡察工作操作规程(修订)",
        "关于建立巡察整改日常监督机制的办法",
        "巡视巡察信息共享平台数据管理规定",
        "关于规范问题线索移交办理的规定",
        "被巡察单位整改情况评估办法(试行)",
        "关于加强巡察机构与纪检监察机关协作配合的意见",
    ],
    "practice": [
        "{node}巡察组长库、人才库建设的做法",
        "{unit}巡察整改“回头看”经验做法",
        "以“{trick}”破解熟人社会监督难题",
        "{node}推行“{trick}”工作机制的做法",
        "用好信息平台实现整改进度“一网可查”",
        "{theme}专项巡察中发现问题的几点做法",
    ],
    "work_requirement": [
        "关于做好{round}巡察工作的通知",
        "关于开展{theme}专项巡察的工作要求",
        "关于按期报送巡察整改情况的通知",
        "关于做好巡察反馈意见整改落实的工作要求",
        "关于报送{month}月份问题线索处置情况的通知",
        "关于深化巡视巡察上下联动的工作要求",
    ],
    "supervision_check": [
        "{unit}巡察整改落实情况监督检查报告",
        "对{unit}整改“回头看”监督检查情况",
        "{theme}专项监督检查通报({month}月)",
    ],
    "inspection_finding": [
        "{round}巡察{unit}发现问题汇总",
        "关于对{unit}党组织巡察情况的报告",
        "{theme}专项巡察发现问题清单({unit})",
    ],
    "political_ecology": ["{unit}政治生态评估报告", "{node}{year}年度政治生态分析研判"],
    "accountability": [
        "关于{unit}落实整改不力的追责问责情况",
        "{unit}原{post}{person}被诫勉谈话情况通报",
        "对{unit}相关责任人问责处理决定",
    ],
    "problem_clue": [
        "关于{unit}{post}{person}{issue}的问题线索",
        "反映{unit}{issue}的问题线索",
        "{round}巡察移交问题线索({unit})",
    ],
    "petition": [
        "群众来信反映{unit}{issue}",
        "信访举报反映{unit}{post}{person}{issue}",
        "网络举报反映{unit}{issue}",
    ],
    "evidence": ["{unit}{issue}问题相关证据材料(第{k}批)", "{unit}{material}调取清单"],
    "case_analysis": [
        "{unit}{post}{person}涉嫌{issue}案情分析",
        "关于{unit}{issue}问题的初核情况分析",
    ],
    "integrity_consultation": [
        "关于{person}同志拟提拔任用的廉政意见征询",
        "{unit}拟评先评优对象廉政征询回复",
    ],
    "integrity_file": [
        "{unit}领导班子成员廉政档案({year}年度更新)",
        "{unit}{post}{person}廉政档案",
    ],
    "personal_matter_report": [
        "{unit}{post}{person}个人有关事项报告核查情况",
        "{year}年度个人有关事项报告随机抽查结果({unit})",
    ],
}

BODIES: dict[str, list[str]] = {
    "policy": [
        "为深入贯彻巡视工作条例,推动巡视巡察上下联动,结合{node}实际,制定本办法。本办法共{k}章{n}条,"
        "明确了信息报送、线索移交、整改督办等内容,自印发之日起施行。",
        "本规定明确各级巡视巡察机构在信息共享平台上的数据录入、审核、共享和保密责任,"
        "一般基础性信息内部全面共享,限定知悉范围信息指定范围共享,涉案类保密信息严格审批共享。",
    ],
    "practice": [
        "{node}在{theme}专项巡察中探索“{trick}”工作法,统筹巡察、审计、纪检监察力量。"
        "实施以来,发现问题数同比增长{q}%,整改完成率达{p}%。",
        "{office}建立巡察组长库、人才库,实行“一次一授权”,每轮抽调人员提前集中培训。"
        "本年度已完成{k}轮巡察,发现问题{n}个。",
    ],
    "work_requirement": [
        "各{lower}巡察机构要按照上级部署,于{month}月底前完成{round}巡察进驻,聚焦{theme},"
        "重点检查{area}、{area2}等方面问题。巡察情况按月报送,重要情况随时报告。",
        "请各单位于{month}月{k}日前通过信息共享平台报送巡察整改进展,逾期未报的予以通报。"
        "问题线索处置情况须写明处置方式、责任人和办结时限。",
    ],
    "supervision_check": [
        "{group}对{unit}巡察整改落实情况开展监督检查。反馈问题{n}个,已整改{m}个,整改率{p}%;"
        "{k}个问题整改不到位,主要表现为整改措施针对性不强、建章立制不够完善。",
        "对{theme}领域开展专项监督检查,抽查{unit}等单位,发现问题{n}个,已督促立行立改。",
    ],
    "inspection_finding": [
        "{round}巡察对{unit}党组织开展常规巡察,发现问题{n}个,其中{area}方面{m}个、"
        "{area2}方面{k}个;向纪检监察机关移交问题线索{k}件。",
        "{theme}专项巡察发现{unit}存在政策落实不到位、资金管理不规范等问题{n}个,已反馈整改。",
    ],
    "political_ecology": [
        "综合巡察、审计、信访举报等情况,对{unit}政治生态作出评估:总体向好,但{area}方面问题较突出,"
        "近三年信访举报{n}件。建议加强对“一把手”的监督。",
    ],
    "accountability": [
        "因{unit}在巡察整改中敷衍应付、整改不力,经研究,对相关责任人{person}给予{penalty},"
        "对{person2}进行{penalty2}。",
        "{unit}未按期完成巡察反馈问题整改,对单位主要负责人{person}进行约谈,并在全县通报。",
    ],
    "problem_clue": [
        "巡察组在{unit}巡察期间收到反映,{post}{person}涉嫌{issue},涉及金额约{money}万元。"
        "线索具体,具有可查性,建议移交{dept}处置。",
        "群众反映{unit}{issue},涉及{m}个项目。巡察组已调取{material},建议移交{dept}进一步核查。",
    ],
    "petition": [
        "信访人反映{unit}{post}{person}{issue},并提供了部分{material}。已登记,编号{year}-{n}{m}。",
        "来信反映{unit}在{theme}工作中{issue},要求核查处理。已按程序登记转办。",
    ],
    "evidence": [
        "{unit}有关{issue}问题的证据材料:{material}{n}份,已扫描归档,原件由{office}封存。",
    ],
    "case_analysis": [
        "经初步核实,{person}在担任{unit}{post}期间,{issue}问题基本属实,涉及金额{money}万元,"
        "建议{dept}立案审查。",
        "对{unit}{issue}问题的证据进行梳理,现有{material}{n}份,证据链尚不完整,建议补充调取资金流向。",
    ],
    "integrity_consultation": [
        "经查阅廉政档案和信访举报记录,{person}同志近三年未发现违反廉洁纪律问题,无在办问题线索。",
        "经核查,{person}同志{year}年曾受到{penalty},影响期已满;无其他在办问题线索。",
    ],
    "integrity_file": [
        "{unit}领导班子成员{m}人的廉政档案已更新,包括个人有关事项报告、廉政谈话记录和信访举报处理情况。",
    ],
    "personal_matter_report": [
        "对{unit}{post}{person}{year}年度个人有关事项报告进行随机抽查核实,房产、投资情况与报告一致。",
        "对{unit}{post}{person}个人有关事项报告核查发现漏报房产{k}处,已责令说明情况。",
    ],
}

ORDER_TITLES = [
    "关于对{unit}开展靶向巡察的督办指令",
    "关于{theme}同步巡察的工作指令",
    "关于核查{unit}巡视反馈问题整改情况的交办函",
    "关于督办{unit}问题线索处置的通知",
    "关于对{theme}领域开展延伸巡察的指令",
]
NOTES: dict[str, list[str]] = {
    "acknowledge": ["已收到指令,由{group}承办。", "已接收,已研究部署,明确专人负责。"],
    "progress": [
        "巡察组已进驻{unit},调阅{material}{x}份,个别谈话{k}人次。",
        "已完成对{unit}的延伸检查,正在核实{m}个问题。",
        "已召开动员会,发放调查问卷{x}份,正在梳理问题清单。",
    ],
    "return": [
        "报告中问题定性不够准确,请补充核实{unit}有关资金流向后重新报告。",
        "整改措施不够具体,请细化责任人和完成时限后重新报送。",
    ],
    "accept": ["报告内容完整,同意验收。", "问题查找准确,整改措施可行,予以验收。"],
    "close": ["整改落实到位,予以办结。", "问题已全部整改销号,办结。"],
}
REPORT_BODIES = [
    "按照{issuer}指令要求,{group}对{unit}开展靶向巡察,发现问题{n}个,移交问题线索{m}件,"
    "提出整改意见{k}条。",
    "针对{issuer}反馈的问题,对{unit}开展延伸巡察,核实问题{n}个,其中属实{m}个,已督促立行立改。",
]
LEDGER_FEEDBACK = [
    "{dept}已初步核实,对{person}进行谈话提醒,责令退还违规款项{money}万元。",
    "{dept}已立案审查,{person}已被采取留置措施,案件正在办理中。",
    "经核查,反映问题部分属实,{dept}对{person}给予诫勉谈话处理。",
    "经核查,反映问题不属实,已向被反映人澄清正名。",
]
ACCESS_REASONS = [
    "{group}对{unit}开展巡察,需核对该线索反映问题与巡察发现问题是否重复。",
    "{node}开展{unit}领导班子分析研判,需查阅相关材料核实情况。",
    "办理上级交办问题线索,需比对该材料中的关键事实。",
]
APPROVE_COMMENTS = ["同意,限于核对用途,不得复制外传。", "同意查阅,用后按规定销毁。"]
DENY_COMMENTS = ["与申请人当前工作无直接关联,不予批准。", "申请理由不充分,暂不同意。"]


__all__ = [
    "SIZES",
    "SeedReport",
    "SeedSize",
    "SeedingError",
    "history_window",
    "rewind_clock",
    "seed_history",
]
