"""Write a data set the size of one city's programme (or the demo) into an empty database.

The figures of issue 12 were measured at this size: 20,000 offers of verified organizations and
volunteers, 5,000 people (500 on one caseworker, about 1,200 in one supervisor's district), 10,000
needs, 50,000 contacts, 20,000 referrals in every state (about 1,000 waiting in one provider's inbox)
and 250,000 audit events, on top of the demo data set, whose accounts the benchmark signs in as.

Offers go through the offers services (create, then publish), so whatever those write with an offer
(search terms, stored vectors) is written too; people, needs, consents, contacts and referrals
through the models in batches (encryption and blind indexes apply); audit events through
`portal.audit.services.record`, committed a batch at a time, or, while the trail is chained as each
event is appended (before issue 12), chained in bulk as `record_view` chains a list.

    .venv/bin/python benchmarks/city.py --database-url URL [--size demo|city] [--scale 0.1] [--reset]

`--reset` empties the database first (the PostgreSQL schema is dropped, a SQLite file deleted).
"""

import argparse
import random
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, col, func, select

if not __package__:  # run as a script: make the repository importable, as under pytest
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# CONFIG and reset stay importable from here: bench_pages.py reads them from this module.
from benchmarks.common import CONFIG, add_database_argument, make_app, reset  # noqa: F401
from benchmarks.stand_in import stand_in_vectors
from matching import semantic
from portal.audit.services import chain_key, chain_mac, head, record
from portal.clock import local_date
from portal.consent_text import DEFAULT_DISCLOSER, REVOCATION_STATEMENT_VERSION, text_sha256_in
from portal.db import get_engine
from portal.demo import MARKER_EMAIL, load_demo_data
from portal.i18n import LOCALES
from portal.models import (
    Area,
    AreaLevel,
    AuditEvent,
    Category,
    Consent,
    ConsentMethod,
    ConsentPurpose,
    ContactKind,
    ContactLog,
    DataCategory,
    EmploymentType,
    ExpiryEvent,
    Need,
    NeedStatus,
    Offer,
    Organization,
    OrganizationKind,
    PayPeriod,
    Person,
    Programme,
    RecipientKind,
    Referral,
    ReferralEvent,
    ReferralStatus,
    Role,
    ScheduleSlot,
    User,
    VerificationStatus,
    utcnow,
)
from portal.offers.forms import OfferForm
from portal.offers.services import change_status, create_offer

# The demo accounts the benchmark signs in as, and what the city data set gives them.
CASEWORKER = "caseworker@bridge.example"  # the caseload of 500
SUPERVISOR = "supervisor@bridge.example"  # Lianhu district, about 1,200 people
PROVIDER = "ngo@bridge.example"  # Qiming's inbox, about 1,000 referrals waiting
SUPERVISED_DISTRICT = "LH"
INBOX_ORGANIZATION = "西安市莲湖区启明社会工作服务中心"
# A word about one offer in five holds, in titles and descriptions: the directory search's test.
COMMON_WORD = "培训"


@dataclass(frozen=True)
class Size:
    """How many of each record the city adds to the demo data set."""

    offers: int = 20_000
    people: int = 5_000
    caseload: int = 500  # on CASEWORKER
    district: int = 1_200  # in SUPERVISED_DISTRICT, the caseload included
    needs: int = 10_000
    contacts: int = 50_000
    referrals: int = 20_000
    inbox: int = 1_000  # sent or waitlisted to the offers of INBOX_ORGANIZATION
    audit: int = 250_000
    organizations: int = 150
    volunteers: int = 100
    caseworkers: int = 40

    def scaled(self, scale: float) -> "Size":
        return Size(**{name: max(1, round(value * scale)) for name, value in vars(self).items()})


CITY = Size()


@dataclass
class Written:
    """What a run wrote: rows per table (counted in the database at the end) and seconds per step."""

    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())


COUNTED: dict[str, type[SQLModel]] = {
    "areas": Area,
    "organizations": Organization,
    "users": User,
    "offers": Offer,
    "people": Person,
    "needs": Need,
    "consents": Consent,
    "contacts": ContactLog,
    "referrals": Referral,
    "referral_events": ReferralEvent,
    "audit_events": AuditEvent,
}


def count_rows(session: Session) -> dict[str, int]:
    return {name: session.exec(select(func.count()).select_from(model)).one() for name, model in COUNTED.items()}


def has_data(url: str) -> bool:
    """Whether the database holds the demo accounts (and so a data set written before)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table("user"):
                return False
            found = connection.execute(sa.select(User.id).where(User.email == MARKER_EMAIL)).first()
            return found is not None
    finally:
        engine.dispose()


# --- Text: titles and descriptions in Chinese and English ----------------------------------------

ZH_OFFERS: dict[Category, list[str]] = {
    Category.EMPLOYMENT: [
        "快递分拣员",
        "厨师",
        "帮厨",
        "面点师",
        "保安",
        "保洁员",
        "送餐骑手",
        "仓库管理员",
        "货车司机",
        "餐厅服务员",
        "超市收银员",
        "缝纫工",
        "装修小工",
        "绿化养护工",
        "洗车工",
        "电工学徒",
        "客服专员",
        "搬运工",
        "物业维修工",
        "奶茶店店员",
    ],
    Category.TRAINING: [
        "厨师技能培训班",
        "电工上岗培训",
        "计算机基础培训",
        "驾驶技能培训",
        "面点制作培训",
        "家政服务培训",
        "电商直播培训",
        "焊工职业培训",
        "美容美发培训",
        "叉车操作培训",
    ],
    Category.COUNSELLING: [
        "个体心理辅导",
        "团体心理辅导",
        "戒毒康复心理咨询",
        "情绪管理小组",
        "防复吸辅导",
        "睡眠与压力辅导",
        "动机访谈辅导",
    ],
    Category.FAMILY_SUPPORT: [
        "家庭辅导",
        "家长互助小组",
        "亲子沟通课程",
        "家属支持热线",
        "家庭关系调解",
        "子女课业帮扶",
    ],
    Category.HEALTH: ["美沙酮维持治疗", "免费体检", "肝炎筛查", "艾滋病检测与咨询", "牙科义诊", "中医理疗", "戒烟门诊"],
    Category.HOUSING: ["过渡性住房", "临时住宿", "公租房申请协助", "合租床位", "出狱人员安置住房"],
    Category.LEGAL: ["法律咨询", "法律援助", "劳动仲裁协助", "社区康复政策讲解", "户籍证件补办协助"],
    Category.PEER_SUPPORT: ["同伴支持小组", "康复者互助会", "同伴导师", "戒毒康复分享会", "康复咖啡馆志愿服务"],
}

EN_OFFERS: dict[Category, list[str]] = {
    Category.EMPLOYMENT: [
        "Parcel sorter",
        "Line cook",
        "Kitchen porter",
        "Baker's assistant",
        "Security guard",
        "Cleaner",
        "Delivery rider",
        "Warehouse assistant",
        "Van driver",
        "Waiter",
        "Supermarket cashier",
        "Sewing machinist",
        "Builder's labourer",
        "Gardener",
        "Car wash attendant",
        "Electrician's apprentice",
        "Customer service agent",
        "Removals porter",
        "Building maintenance worker",
        "Barista",
    ],
    Category.TRAINING: [
        "Cookery course",
        "Electrical skills training",
        "Basic computer course",
        "Driving lessons",
        "Pastry course",
        "Home care training",
        "E-commerce course",
        "Welding course",
        "Hairdressing course",
        "Forklift training",
    ],
    Category.COUNSELLING: [
        "One-to-one counselling",
        "Group therapy",
        "Relapse prevention counselling",
        "Anger management group",
        "Motivational interviewing sessions",
        "Stress and sleep clinic",
    ],
    Category.FAMILY_SUPPORT: [
        "Family counselling",
        "Carers' support group",
        "Parenting course",
        "Family mediation",
        "Homework club for children",
    ],
    Category.HEALTH: [
        "Methadone maintenance",
        "Free health check",
        "Hepatitis screening",
        "HIV testing and counselling",
        "Dental clinic",
        "Physiotherapy",
        "Stop-smoking clinic",
    ],
    Category.HOUSING: [
        "Halfway house place",
        "Emergency accommodation",
        "Help applying for public housing",
        "Shared room",
    ],
    Category.LEGAL: ["Legal advice", "Legal aid", "Help with employment disputes", "Help replacing ID documents"],
    Category.PEER_SUPPORT: [
        "Peer support group",
        "Recovery mutual-aid meeting",
        "Peer mentor",
        "Recovery café volunteers",
    ],
}

ZH_TERMS = [
    "全职",
    "兼职",
    "周末班",
    "夜班",
    "包吃住",
    "老员工带岗",
    "无需经验",
    "可安排宿舍",
    "免费",
    "每周一次",
    "小班教学",
]
EN_TERMS = [
    "full-time",
    "part-time",
    "weekends",
    "evenings",
    "meals and bed provided",
    "mentor on the job",
    "no experience needed",
    "dormitory available",
    "free",
    "weekly",
    "small groups",
]
ZH_SENTENCES = [
    "适合处于社区戒毒、社区康复期的人员，不因既往经历拒绝。",
    "社工可将个人编号和基本情况发给联系人，三个工作日内答复。",
    "地点在{place}，公交可达。",
    "每期{n}人，满员后排队等候。",
    "提供岗前培训和劳保用品，表现好可转正。",
    "我们重视隐私，相关情况仅负责人知悉。",
    "需要带身份证原件，没有的可先联系社工协助补办。",
    "服务由持证社工和心理咨询师提供，全程免费。",
    "每周{n}小时，可配合社区报到时间调整。",
    "欢迎家属一同参加，周末也有安排。",
    "结业后推荐就业，合作单位有{n}家。",
    "有C1驾照或相关经验者优先。",
]
EN_SENTENCES = [
    "Open to people in community detox or rehabilitation; past drug use is no bar.",
    "Caseworkers send the person's code and availability; we answer within three working days.",
    "Based in {place}, close to the bus.",
    "{n} places a round; a waiting list opens when full.",
    "Training and safety gear provided; a permanent contract after probation.",
    "Only the manager knows a person's background.",
    "Bring your ID card; your caseworker can help replace a lost one.",
    "Run by licensed social workers and counsellors, free of charge.",
    "{n} hours a week, arranged around community check-ins.",
    "Family members are welcome to join; there are weekend sessions too.",
    "Graduates are introduced to {n} partner employers.",
    "A driving licence or similar experience helps.",
]
SKILLS = [
    "体力劳动",
    "扫码枪操作",
    "烹饪",
    "驾驶C1",
    "电脑打字",
    "收银",
    "缝纫",
    "cooking",
    "driving",
    "cleaning",
    "sales",
]
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀英",
    "华",
    "平",
]

# Referral states of the city's other referrals, by share: every state occurs.
STATE_SHARES = [
    (ReferralStatus.PROPOSED, 15),
    (ReferralStatus.APPROVED, 5),
    (ReferralStatus.SENT, 15),
    (ReferralStatus.WAITLISTED, 3),
    (ReferralStatus.ACCEPTED, 12),
    (ReferralStatus.IN_PROGRESS, 10),
    (ReferralStatus.COMPLETED, 15),
    (ReferralStatus.DECLINED, 10),
    (ReferralStatus.WITHDRAWN, 8),
    (ReferralStatus.EXPIRED, 7),
]
WAITING = (ReferralStatus.SENT, ReferralStatus.WAITLISTED)


class Writer:
    """Writes the city on top of the demo data set, deterministically (a seeded random)."""

    def __init__(self, session: Session, size: Size, out: Callable[[str], None]) -> None:
        self.session, self.size, self.out = session, size, out
        self.random = random.Random(12)
        self.now = utcnow()
        self.today = local_date(self.now)
        self.written = Written()

    def step(self, name: str, action: Callable[[], int]) -> None:
        start = time.perf_counter()
        made = action()
        seconds = time.perf_counter() - start
        self.written.seconds[name] = round(seconds, 1)
        self.out(f"  {name}: {made:,} in {seconds:.1f} s")

    def user(self, email: str) -> User:
        return self.session.exec(select(User).where(User.email == email)).one()

    def text(self, zh: bool, pool: list[str]) -> str:
        picked = self.random.sample(pool, k=min(len(pool), self.random.randint(2, 4)))
        n = self.random.randint(2, 40)
        place = self.random.choice(self.streets)
        return ("" if zh else " ").join(s.format(n=n, place=place.name_zh if zh else place.name_en) for s in picked)

    # --- steps ------------------------------------------------------------------------------------

    def areas(self) -> int:
        """Six more grids under each street, so caseloads spread over a believable area tree."""
        streets = self.session.exec(select(Area).where(Area.level == AreaLevel.STREET)).all()
        grids = [
            Area(
                parent_id=street.id,
                level=AreaLevel.GRID,
                code=f"{street.code}-C{n:02d}",
                name_en=f"{street.name_en.removesuffix(' Subdistrict')} Community Grid C{n}",
                name_zh=f"{street.name_zh.removesuffix('街道')}社区C{n}网格",
            )
            for street in streets
            for n in range(1, 7)
        ]
        self.session.add_all(grids)
        self.session.commit()
        self.streets = list(streets)
        return len(grids)

    def accounts(self) -> int:
        """Verified organizations with one provider each, verified volunteers, and caseworkers."""
        password_hash = self.user(CASEWORKER).password_hash
        kinds = [OrganizationKind.NGO] * 4 + [OrganizationKind.EMPLOYER] * 4 + [OrganizationKind.GOVERNMENT]
        kinds.append(OrganizationKind.VOLUNTEER_GROUP)
        organizations = [
            Organization(
                name=f"西安市{self.random.choice(self.streets).name_zh}第{n}社会服务机构 Xi'an Service {n}",
                kind=kinds[n % len(kinds)],
                status=VerificationStatus.VERIFIED,
                verified_at=self.now,
                area_id=self.random.choice(self.streets).id,
                description=self.text(True, ZH_SENTENCES),
            )
            for n in range(self.size.organizations)
        ]
        self.session.add_all(organizations)
        self.session.flush()
        users = [
            User(
                email=f"staff{n}@city.example",
                name=f"{SURNAMES[n % len(SURNAMES)]}{GIVEN[n % len(GIVEN)]}",
                password_hash=password_hash,
                role=Role.PROVIDER,
                organization_id=organization.id,
                verified_at=self.now,
            )
            for n, organization in enumerate(organizations)
        ]
        users += [
            User(
                email=f"volunteer{n}@city.example",
                name=f"{SURNAMES[-n % len(SURNAMES)]}{GIVEN[n * 3 % len(GIVEN)]}",
                password_hash=password_hash,
                role=Role.VOLUNTEER,
                area_id=self.random.choice(self.streets).id,
                verified_at=self.now,
            )
            for n in range(self.size.volunteers)
        ]
        # Caseworkers: a few in the supervised district share its people with CASEWORKER.
        district = self.session.exec(select(Area).where(Area.code == SUPERVISED_DISTRICT)).one()
        inside = [street for street in self.streets if street.parent_id == district.id]
        outside = [street for street in self.streets if street.parent_id != district.id]
        self.caseworkers_in = [
            User(
                email=f"caseworker{n}@city.example",
                name=f"{SURNAMES[n * 7 % len(SURNAMES)]}{GIVEN[n * 5 % len(GIVEN)]}",
                password_hash=password_hash,
                role=Role.CASEWORKER,
                area_id=(inside if n < 6 else outside)[n % len(inside if n < 6 else outside)].id,
                verified_at=self.now,
            )
            for n in range(self.size.caseworkers)
        ]
        users += self.caseworkers_in
        self.session.add_all(users)
        self.session.commit()
        return len(organizations) + len(users)

    def offers(self) -> int:
        """Offers through the services: created as drafts, most published, some paused or closed."""
        owners_by_kind: dict[str, list[User]] = {}
        providers = self.session.exec(
            select(User, Organization)
            .join(Organization, col(Organization.id) == User.organization_id)
            .where(User.role == Role.PROVIDER, Organization.status == VerificationStatus.VERIFIED)
        ).all()
        for user, organization in providers:
            owners_by_kind.setdefault(str(organization.kind), []).append(user)
        owners_by_kind["volunteer"] = list(
            self.session.exec(select(User).where(User.role == Role.VOLUNTEER, col(User.verified_at).is_not(None)))
        )
        inbox_owner = self.user(PROVIDER)
        categories_of = {
            "ngo": [c for c in Category if c != Category.EMPLOYMENT],
            "employer": [Category.EMPLOYMENT] * 4 + [Category.TRAINING],
            "government": [Category.HEALTH, Category.LEGAL, Category.HOUSING, Category.TRAINING],
            "volunteer_group": [Category.PEER_SUPPORT, Category.FAMILY_SUPPORT, Category.TRAINING, Category.LEGAL],
            "volunteer": [Category.PEER_SUPPORT, Category.FAMILY_SUPPORT, Category.LEGAL, Category.TRAINING],
        }
        kinds = ["ngo"] * 8 + ["employer"] * 7 + ["government", "volunteer_group"] * 2 + ["volunteer"]
        kinds = [kind for kind in kinds if owners_by_kind.get(kind)]
        # The inbox's provider owns enough offers for its referrals to spread over.
        own = max(1, self.size.offers // 300)
        self.session.commit()
        for n in range(self.size.offers):
            kind = "ngo" if n < own else self.random.choice(kinds)
            owner = inbox_owner if n < own else self.random.choice(owners_by_kind[kind])
            offer = create_offer(self.session, owner, self.offer_form(self.random.choice(categories_of[kind])))
            roll = self.random.random()
            if roll < 0.9:
                change_status(self.session, owner, offer, "publish")
            if 0.9 <= roll < 0.95:
                change_status(self.session, owner, offer, "close")
            elif roll >= 0.97:
                change_status(self.session, owner, change_status(self.session, owner, offer, "publish"), "pause")
            self.session.expunge(offer)  # keeps the session's identity map small over 20,000 offers
        return self.size.offers

    def offer_form(self, category: Category) -> OfferForm:
        zh = self.random.random() < 0.55
        names = ZH_OFFERS[category] if zh else EN_OFFERS[category]
        terms = ZH_TERMS if zh else EN_TERMS
        street = self.random.choice(self.streets)
        title = f"{self.random.choice(names)}（{self.random.choice(terms)}，{street.name_zh}）"
        if not zh:
            title = f"{self.random.choice(names)} ({self.random.choice(terms)}, {street.name_en})"
        description = self.text(zh, ZH_SENTENCES if zh else EN_SENTENCES)
        if category == Category.TRAINING or self.random.random() < 0.08:
            description += "提供免费技能培训。" if zh else " 提供技能培训 (skills training) included."
        job = category == Category.EMPLOYMENT
        low = self.random.randint(25, 60) * 100
        return OfferForm(
            category=category,
            title=title[:200],
            description=description[:5000],
            skills="，".join(self.random.sample(SKILLS, k=2)),
            languages=["zh"] if zh else ["en", "zh"],
            area_id=street.id,
            address=f"{street.name_zh}{self.random.randint(1, 300)}号",
            latitude=round(34.2 + self.random.random() * 0.2, 4),
            longitude=round(108.8 + self.random.random() * 0.3, 4),
            remote=self.random.random() < 0.05,
            schedule=self.random.sample(list(ScheduleSlot), k=self.random.randint(1, 3)),
            capacity=self.random.randint(1, 20),
            min_age=18 if self.random.random() < 0.5 else None,
            max_age=self.random.choice([None, 45, 55, 60]),
            employment_type=self.random.choice(list(EmploymentType)) if job else None,
            pay_min=low if job else None,
            pay_max=low + 1500 if job else None,
            pay_period=PayPeriod.MONTH if job else None,
            hours_per_week=self.random.choice([20, 30, 40, 44]) if job else None,
            fair_chance_statement="不因既往经历拒绝录用。" if job else "",
            contact_name="联系人",
            contact_phone=f"029-8{self.random.randint(100, 999)} {self.random.randint(1000, 9999)}",
        )

    def people(self) -> int:
        """People with their consents, needs and contacts, a batch per commit."""
        grids = self.session.exec(select(Area).where(Area.level == AreaLevel.GRID)).all()
        grids_of = {street.id: [grid for grid in grids if grid.parent_id == street.id] for street in self.streets}
        caseworker = self.user(CASEWORKER)
        inside = self.caseworkers_in[:6]
        outside = self.caseworkers_in[6:] or inside
        owners: list[User] = [caseworker] * self.size.caseload
        owners += [inside[n % len(inside)] for n in range(max(0, self.size.district - self.size.caseload))]
        owners += [outside[n % len(outside)] for n in range(max(0, self.size.people - len(owners)))]
        needs_each, contacts_each = self.size.needs / self.size.people, self.size.contacts / self.size.people
        self.needs_written = self.contacts_written = 0
        for batch in _batches(list(enumerate(owners)), 250):
            people = [self.person(n, owner, grids_of) for n, owner in batch]
            self.session.add_all(people)
            self.session.flush()  # no ORM relationships order the inserts: people go first
            for person in people:
                self.session.add_all(self.consents(person))
                self.session.add_all(self.needs_of(person, self.share(needs_each, self.size.needs, "needs_written")))
                self.session.add_all(
                    self.contacts_of(person, self.share(contacts_each, self.size.contacts, "contacts_written"))
                )
            self.session.commit()
        return len(owners)

    def share(self, each: float, total: int, written: str) -> int:
        """Whole records per person averaging `each`, never beyond the total."""
        done = getattr(self, written)
        n = min(int(each) + (self.random.random() < each - int(each)), total - done)
        setattr(self, written, done + n)
        return n

    def person(self, n: int, owner: User, grids_of: dict[uuid.UUID, list[Area]]) -> Person:
        street = next((s for s in self.streets if s.id == owner.area_id), self.streets[0])
        grid = self.random.choice(grids_of[street.id] or [street])
        name = f"{self.random.choice(SURNAMES)}{self.random.choice(GIVEN)}{self.random.choice(GIVEN)}"
        start = self.today - timedelta(days=self.random.randint(30, 1000))
        return Person(
            code=f"XA-2025-{n + 1:05d}",
            caseworker_id=owner.id,
            full_name=name,
            phone=f"139 {self.random.randint(1000, 9999)} {n % 10000:04d}",
            id_number=f"6101{self.random.randint(10, 99)}19{self.random.randint(60, 99)}0101{n % 10000:04d}",
            address=f"{street.name_zh}{self.random.randint(1, 200)}号{self.random.randint(1, 30)}室",
            birth_date=date(1965, 1, 1) + timedelta(days=self.random.randint(0, 14000)),
            gender=self.random.choice(["male", "male", "female"]),
            languages=["zh"],
            area_id=grid.id,
            latitude=round(34.2 + self.random.random() * 0.2, 4),
            longitude=round(108.8 + self.random.random() * 0.3, 4),
            max_travel_km=self.random.choice([5, 10, 20]),
            availability=self.random.sample(list(ScheduleSlot), k=2),
            skills=self.random.sample(SKILLS, k=2),
            programme=self.random.choice(list(Programme)),
            programme_start=start,
            # A spread of due and overdue contacts, the way a real caseload looks any day.
            next_contact_due=self.today + timedelta(days=self.random.randint(-45, 30)),
        )

    def consents(self, person: Person) -> list[Consent]:
        wanted = [(kind, ConsentPurpose.REFERRAL) for kind in RecipientKind if kind != RecipientKind.EMPLOYER]
        wanted.append((RecipientKind.EMPLOYER, ConsentPurpose.EMPLOYMENT))
        signed = person.programme_start or self.today
        return [
            Consent(
                person_id=person.id,
                recipient_kind=kind,
                purpose=purpose,
                data_categories=[DataCategory.NEEDS, DataCategory.SKILLS, DataCategory.CONTACT],
                valid_from=signed,
                method=ConsentMethod.PAPER,
                recorded_by_id=person.caseworker_id,
                discloser=DEFAULT_DISCLOSER,
                signature_ref=f"CITY-{person.code}-{index}",
                signed_at=signed,
                expiry_event=ExpiryEvent.PROGRAMME_END,
                revocation_statement_version=REVOCATION_STATEMENT_VERSION,
                text_version_sha256=self.consent_sha,
            )
            for index, (kind, purpose) in enumerate(wanted, start=1)
        ]

    def needs_of(self, person: Person, n: int) -> list[Need]:
        needs = []
        for _ in range(n):
            category = self.random.choice(list(Category))
            zh = self.random.random() < 0.8
            wish = self.random.choice(ZH_OFFERS[category] if zh else EN_OFFERS[category])
            description = (
                f"希望得到{wish}方面的帮助，{self.text(True, ZH_SENTENCES)}"
                if zh
                else f"Would like help with {wish.lower()}. {self.text(False, EN_SENTENCES)}"
            )
            status = self.random.choices(list(NeedStatus), weights=[80, 12, 8])[0]
            needs.append(
                Need(
                    person_id=person.id,
                    category=category,
                    description=description,
                    urgency=self.random.randint(1, 3),
                    status=status,
                    created_by_id=person.caseworker_id,
                )
            )
            self.need_rows.append((needs[-1].id, category, person.caseworker_id))
        return needs

    def contacts_of(self, person: Person, n: int) -> list[ContactLog]:
        return [
            ContactLog(
                person_id=person.id,
                caseworker_id=person.caseworker_id,
                kind=self.random.choice(list(ContactKind)),
                occurred_on=self.today - timedelta(days=self.random.randint(1, 365)),
                outcome="reached",
                note=self.text(True, ZH_SENTENCES),
            )
            for _ in range(n)
        ]

    def referrals(self) -> int:
        """Referrals in every state, with their events; the inbox provider's waiting ones first."""
        inbox_organization = self.user(PROVIDER).organization_id
        offers = self.session.exec(
            select(Offer.id, Offer.category, Offer.organization_id).where(Offer.status == "open")
        ).all()
        by_category: dict[str, list[uuid.UUID]] = {}
        inbox_offers: dict[str, list[uuid.UUID]] = {}
        for offer_id, category, organization_id in offers:
            target = inbox_offers if organization_id == inbox_organization else by_category
            target.setdefault(str(category), []).append(offer_id)
        needs = [row for row in self.need_rows if str(row[1]) in by_category]
        inbox_needs = [row for row in self.need_rows if str(row[1]) in inbox_offers]
        states, weights = zip(*STATE_SHARES, strict=True)
        taken: set[tuple[uuid.UUID, uuid.UUID]] = set()
        made = 0
        while made < self.size.referrals:
            batch: list[Referral | ReferralEvent] = []
            for _ in range(min(1000, self.size.referrals - made)):
                waiting = made < self.size.inbox and inbox_needs
                need_id, category, caseworker_id = self.random.choice(inbox_needs if waiting else needs)
                offer_id = self.random.choice((inbox_offers if waiting else by_category)[str(category)])
                if (need_id, offer_id) in taken:
                    continue
                taken.add((need_id, offer_id))
                status = self.random.choice(WAITING) if waiting else self.random.choices(states, weights)[0]
                referral = self.referral(need_id, offer_id, status, caseworker_id)
                batch += [referral, *self.events(referral, caseworker_id)]
                made += 1
            self.session.add_all([row for row in batch if isinstance(row, Referral)])
            self.session.flush()
            self.session.add_all([row for row in batch if isinstance(row, ReferralEvent)])
            self.session.commit()
        return made

    def referral(
        self, need_id: uuid.UUID, offer_id: uuid.UUID, status: ReferralStatus, caseworker_id: uuid.UUID | None
    ) -> Referral:
        created = self.now - timedelta(days=self.random.randint(1, 120), minutes=self.random.randint(0, 1440))
        sent = status not in (ReferralStatus.PROPOSED, ReferralStatus.APPROVED)
        return Referral(
            need_id=need_id,
            offer_id=offer_id,
            status=status,
            score=round(self.random.random(), 3),
            reasons=["category", "distance"],
            summary=self.text(True, ZH_SENTENCES) if sent else "",
            # Waiting ones still have time to answer: nothing is due when the benchmark starts.
            respond_by=self.now + timedelta(days=self.random.randint(3, 14)) if status in WAITING else None,
            contact_method=self.random.choice(["via_caseworker", "phone", "visit"]) if sent else "",
            reason_code="no_capacity" if status == ReferralStatus.DECLINED else "",
            created_by_id=caseworker_id,
            created_at=created,
            updated_at=created + timedelta(days=1),
        )

    def events(self, referral: Referral, caseworker_id: uuid.UUID | None) -> list[ReferralEvent]:
        events = [
            ReferralEvent(referral_id=referral.id, to_status=ReferralStatus.PROPOSED, at=referral.created_at),
        ]
        if referral.status != ReferralStatus.PROPOSED:
            events.append(
                ReferralEvent(
                    referral_id=referral.id,
                    from_status=ReferralStatus.PROPOSED,
                    to_status=referral.status,
                    actor_id=caseworker_id,
                    at=referral.updated_at,
                )
            )
        return events

    def audit(self) -> int:
        """The trail of a busy programme: people viewed and changed, referrals and offers viewed."""
        people = list(self.session.exec(select(Person.id, Person.caseworker_id)))
        referral_ids = list(self.session.exec(select(Referral.id).limit(5000)))
        offer_ids = list(self.session.exec(select(Offer.id).limit(5000)))
        actors = {user.id: user for user in self.session.exec(select(User).where(User.role != Role.ADMIN))}
        providers = [user for user in actors.values() if user.role == Role.PROVIDER]
        self.session.commit()
        for batch in _batches(list(range(self.size.audit)), 5000):
            events: list[tuple[User | None, str, str, uuid.UUID | None]] = []
            for n in batch:
                roll = n % 20
                if roll < 14:
                    person_id, caseworker_id = people[self.random.randrange(len(people))]
                    actor = actors.get(caseworker_id) if caseworker_id else None
                    events.append((actor, "view" if roll < 11 else "update", "person", person_id))
                elif roll < 17:
                    events.append((self.random.choice(providers), "view", "referral", _pick(self, referral_ids)))
                else:
                    actor = self.random.choice(providers)
                    events.append((actor, "view" if roll < 19 else "update", "offer", _pick(self, offer_ids)))
            if AuditEvent.__table__.c.sequence.nullable:  # type: ignore[attr-defined]
                for event in events:  # appended pending, linked after the commit: cheap
                    record(self.session, *event)
            else:
                self.append_chained(events)
            self.session.commit()
        return self.size.audit

    def append_chained(self, events: list[tuple[User | None, str, str, uuid.UUID | None]]) -> None:
        """Events chained as they are appended (the trail before issue 12), in one INSERT as
        `record_view` writes a list: through `record` each would cost three round trips."""
        key = chain_key(self.session)
        last = head(self.session, self.now)
        sequence, previous_hash = (last.sequence, last.mac) if last else (0, "")
        rows = []
        for offset, (actor, action, record_type, record_id) in enumerate(events, start=1):
            row: dict[str, Any] = {
                "id": uuid.uuid4(),
                "sequence": sequence + offset,
                "at": utcnow(),
                "actor_id": actor.id if actor else None,
                "action": action,
                "record_type": record_type,
                "record_id": record_id,
                "previous_hash": previous_hash,
            }
            row["hash"] = previous_hash = chain_mac(key, previous_hash, row)
            rows.append(row)
        self.session.execute(sa.insert(AuditEvent), rows)

    def write(self) -> Written:
        self.need_rows: list[tuple[uuid.UUID, Category, uuid.UUID | None]] = []
        self.consent_sha = text_sha256_in(LOCALES["zh"])
        self.step("areas (grids)", self.areas)
        self.step("organizations and accounts", self.accounts)
        self.step("offers (services: create, publish)", self.offers)
        self.step("people, consents, needs, contacts", self.people)
        self.step("referrals and their events", self.referrals)
        self.step("audit events", self.audit)
        return self.written


def _pick(writer: Writer, ids: list[uuid.UUID]) -> uuid.UUID | None:
    return writer.random.choice(ids) if ids else None


def _batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _commits_without_waiting(connection: Any, _record: Any) -> None:
    # A bulk load commits thousands of times: PostgreSQL need not wait for the disk at each (a crash
    # would lose the last commits, never consistency), which makes the offers' step several times faster.
    cursor = connection.cursor()
    cursor.execute("SET synchronous_commit TO off")
    cursor.close()
    connection.commit()


def write(url: str, size: str = "city", scale: float = 1.0, out: Callable[[str], None] = print) -> Written:
    """Migrate the empty database at `url` and write the demo data set, and for "city" the city on
    top (`scale` shrinks it, for tests); rows per table are counted at the end."""
    start = time.perf_counter()
    app = make_app(url)
    if get_engine(app).dialect.name == "postgresql":
        sa.event.listen(get_engine(app), "connect", _commits_without_waiting)
    try:
        with app.app_context(), app.test_request_context(), Session(get_engine(app), expire_on_commit=False) as session:
            out(f"Writing the {size} data set{f' at scale {scale}' if scale != 1 else ''} into {url.split(':')[0]}:")
            if not load_demo_data(session):
                raise SystemExit("The database already holds the demo data set: write into an empty database.")
            written = Written()
            written.seconds["migrate and demo"] = round(time.perf_counter() - start, 1)
            out(f"  migrate and demo: {written.seconds['migrate and demo']:.1f} s")
            if size == "city":
                writer = Writer(session, CITY.scaled(scale), out)
                writer.written = written
                # Offers' and needs' vectors as they are written: stand-ins (benchmarks/stand_in.py).
                model, semantic.model_vectors = semantic.model_vectors, stand_in_vectors
                try:
                    writer.write()
                finally:
                    semantic.model_vectors = model
            written.counts = count_rows(session)
    finally:
        get_engine(app).dispose()
    out("  rows: " + ", ".join(f"{name} {count:,}" for name, count in written.counts.items()))
    out(f"  total: {written.total_seconds:.1f} s")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_database_argument(parser, required=True)
    parser.add_argument("--size", choices=["demo", "city"], default="city")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--reset", action="store_true", help="empty the database first")
    args = parser.parse_args()
    if args.reset:
        reset(args.database_url)
    write(args.database_url, args.size, args.scale)


if __name__ == "__main__":
    main()
