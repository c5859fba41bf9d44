# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every variant of the field cases (tests/fixtures/field-cases.json) as a test.

Inputs and expected values are read from the case file, not restated here. Where a case
says what Cyrus does (``cyrus_actual``) and what a careful tool should do
(``recommended``), both are checked: Cyrus's behaviour through the option that restores
it, the recommendation through the collection's defaults. Cases that need a running
server are also covered against real Cyrus in tests/integration/ and tests/differential/.
"""

import json
import os

import pytest

from ansible_collections.imapops.cyrus.plugins.module_utils import distribution as d
from ansible_collections.imapops.cyrus.plugins.module_utils import facts as placement
from ansible_collections.imapops.cyrus.plugins.module_utils import imapd_conf, partition_probe

HERE = os.path.dirname(os.path.abspath(__file__))
CASES_FILE = os.path.join(HERE, "..", "fixtures", "field-cases.json")
SHARED_CASES = os.path.join(HERE, "..", "..", "..", "shared", "cases", "field-cases.json")

with open(CASES_FILE) as handle:
    CASES = json.load(handle)["cases"]
VARIANTS = [(case["id"], variant["name"], case, variant) for case in CASES for variant in case["variants"]]
CHECKERS = {}


def checks(case_id, *names):
    def register(function):
        for name in names:
            CHECKERS[(case_id, name)] = function
        return function
    return register


def test_fixture_matches_the_shared_cases():
    if not os.path.exists(SHARED_CASES):
        pytest.skip("no shared/ beside the checkout")
    with open(SHARED_CASES) as handle:
        assert json.load(handle)["cases"] == CASES, "update tests/fixtures/field-cases.json from shared/cases"


def test_every_variant_has_a_checker():
    missing = [(case_id, name) for case_id, name, _, _ in VARIANTS if (case_id, name) not in CHECKERS]
    assert missing == []


@pytest.mark.parametrize("case_id, name, case, variant", VARIANTS, ids=["%s/%s" % v[:2] for v in VARIANTS])
def test_field_case(case_id, name, case, variant):
    CHECKERS[(case_id, name)](variant)


# -- helpers: the variant's own data as engine input ---------------------------------


def device_id(value):
    return int(value, 16) if isinstance(value, str) else value


def partition_facts(variant, free_key="free_kib"):
    facts = []
    for p in variant["partitions"]:
        broken = "statvfs_error" in p
        facts.append({"name": p["name"], "path": p["path"], "available_kib": None if broken else p[free_key],
                      "total_kib": None if broken else p["total_kib"], "fsid": device_id(p.get("device_id")),
                      "measurable": not broken, "error": p.get("statvfs_error"), "flags": []})
    return facts


def conf_of(lines):
    return imapd_conf.parse_imapd_conf("\n".join(lines) + "\n", path="imapd.conf")


def settings_of(variant):
    conf = conf_of(variant.get("imapd_conf_lines", []))
    return {
        "partition_select_mode": conf.get("partition_select_mode"),
        "partition_select_exclude": d.parse_exclude(conf.get("partition_select_exclude")),
        "partition_select_soft_usage_limit": conf.get("partition_select_soft_usage_limit"),
        "partition_select_usage_reinit": conf.get("partition_select_usage_reinit"),
        "defaultpartition": conf.get("defaultpartition"),
        "serverlist": d.parse_exclude(conf.get("serverlist")),
        "serverlist_select_mode": conf.get("serverlist_select_mode"),
        "serverlist_select_soft_usage_limit": conf.get("serverlist_select_soft_usage_limit"),
    }


def chosen(variant, **options):
    return placement.choose_partitions(partition_facts(variant), settings_of(variant), **options)[0][0]


def chances(variant, **options):
    return placement.partition_chances(partition_facts(variant), settings_of(variant), **options)


def assert_distribution(actual, expected_percent):
    nonzero = dict((name, value) for name, value in actual.items() if value)
    assert sorted(nonzero) == sorted(expected_percent)
    for name, percent in expected_percent.items():
        assert actual[name] == pytest.approx(percent, abs=0.006), name


# -- FC-12: f_bavail, not f_bfree -------------------------------------------------------


@checks("FC-12", "freespace-most")
def fc12_bavail(variant):
    expected = variant["expected"]
    assert chosen(variant) == expected["cyrus_actual"]
    # the same numbers read with f_bfree (reserved blocks counted as free) would choose otherwise
    assert placement.choose_partitions(partition_facts(variant, "free_incl_reserved_kib"),
                                       settings_of(variant))[0][0] == expected["bfree_based_tool_would_pick"]


@checks("FC-12", "soft-limit-92")
def fc12_soft_limit(variant):
    expected = variant["expected"]
    facts = partition_facts(variant)
    selection = placement.partition_selection(facts, settings_of(variant))
    assert selection.select() == expected["cyrus_actual"]
    rows = dict((row["name"], row) for row in selection.report())
    for name, usage in expected["cyrus_usage_percent"].items():
        assert 100.0 - rows[name]["free_percent"] == pytest.approx(usage)
    assert sorted(n for n, row in rows.items() if row["state"] == "over-soft-limit") == expected["cyrus_excluded"]
    # psutil's used/total ignores the root reserve: by that figure px would not be over 92 %
    for p in variant["partitions"]:
        used = (p["total_kib"] - p["free_incl_reserved_kib"]) * 100.0 / p["total_kib"]
        assert used == pytest.approx(expected["psutil_style_used_over_total"][p["name"]])


# -- FC-14: an unmeasurable partition or backend ----------------------------------------


@checks("FC-14", "backend-partition-statvfs-fails")
def fc14_partition(variant):
    expected = variant["expected"]
    assert_distribution(chances(variant, on_unmeasurable="random"),
                        expected["cyrus_actual"]["distribution_percent"])
    with pytest.raises(d.UnmeasurableError, match="'p1'"):  # the collection's default
        chosen(variant)
    selection = placement.partition_selection(partition_facts(variant), settings_of(variant), on_unmeasurable="skip")
    assert selection.select() == expected["recommended"]["partition"]
    assert [row["name"] for row in selection.report() if row["state"] == "unmeasurable-skipped"] == \
        expected["recommended"]["excluded"]


def backends_of(variant):
    values = {}
    for backend in variant["backends"]:
        values[backend["name"]] = None if backend.get("reachable") is False else backend["annotation_freespace_total"]
    return values


@checks("FC-14", "frontend-backend-unreachable")
def fc14_frontend(variant):
    expected = variant["expected"]
    settings = settings_of(variant)
    backends = backends_of(variant)
    with pytest.raises(d.UnmeasurableError, match="'backend2'"):
        placement.backend_selection(backends, settings=settings).select()
    assert placement.backend_selection(backends, settings=settings, on_unmeasurable="skip").select() == \
        expected["recommended"]["server"]
    # on_unmeasurable='random' follows Cyrus's source: an unreachable backend keeps id 0, and
    # in the *-most modes a later candidate with the id of an earlier one is dropped; see
    # docs/semantics.md and tests/integration/test_murder.py for what the real frontend does.
    cyrus = placement.backend_selection(backends, settings=settings, on_unmeasurable="random").chances()
    assert set(cyrus) == set(expected["cyrus_actual"]["distribution_percent"])


@checks("FC-14", "frontend-backend-in-random-mode")
def fc14_random_backend(variant):
    settings = settings_of(variant)
    backends = backends_of(variant)
    # the backend in random mode really answers 0;0: computed from its own settings
    random_backend = variant["backends"][0]
    own = conf_of(random_backend["imapd_conf_lines"]).get("partition_select_mode")
    answer = d.backend_freespace(["a", "b"], lambda name: d.Usage(500, 1000, name), mode=own)
    assert "%d;%d" % answer[:2] == random_backend["annotation_freespace_total"]
    assert_distribution(placement.backend_selection(backends, settings=settings, on_unmeasurable="random").chances(),
                        variant["expected"]["cyrus_actual"]["distribution_percent"])
    with pytest.raises(d.UnmeasurableError, match="'backend1'"):
        placement.backend_selection(backends, settings=settings).select()


# -- FC-15: a partition measured on the root filesystem ---------------------------------


def fc15_facts(variant):
    """Facts as partition_facts produces them, with the mount table the case describes."""
    root = device_id(variant["root_device_id"])
    mounts = [{"mount": "/", "root": "/", "fstype": "ext4", "device": "/dev/root"}]
    for p in variant["partitions"]:
        if device_id(p["device_id"]) != root:
            mounts.append({"mount": p["path"], "root": "/", "fstype": "xfs", "device": "/dev/san-" + p["name"]})
    facts = partition_facts(variant)
    for fact in facts:
        entry = partition_probe.mount_of(fact["path"], mounts)
        fact.update(realpath=fact["path"], exists=True, mount_point=entry["mount"], fstype=entry["fstype"],
                    device=entry["device"], timed_out=False)
    flags = partition_probe.flag_partitions(facts)
    for fact in facts:
        fact["flags"] = flags[fact["name"]]
    return facts


@checks("FC-15", "freespace-most", "freespace-percent-most", "freespace-percent-weighted")
def fc15_root_fs(variant):
    expected = variant["expected"]
    facts = fc15_facts(variant)
    settings = settings_of(variant)
    flagged = expected["recommended"]["flag"].split()[0]
    assert [f["flag"] for f in dict((x["name"], x) for x in facts)[flagged]["flags"]] == ["root-filesystem"]
    cyrus = placement.partition_chances(facts, settings, unmounted="include", on_unmeasurable="random")
    if isinstance(expected["cyrus_actual"], dict):
        assert_distribution(cyrus, expected["cyrus_actual"]["distribution_percent"])
    else:
        assert cyrus[expected["cyrus_actual"]] == 100.0
    names, warnings = placement.choose_partitions(facts, settings)
    assert names == [expected["recommended"]["partition"]]
    assert any("resolves to the root filesystem" in w for w in warnings)


@checks("FC-15", "missing-path-autocreated")
def fc15_missing(variant, tmp_root=None):
    import tempfile
    base = tempfile.mkdtemp()
    try:
        conf = conf_of([line.replace("/srv/cyrus", base) for line in variant["imapd_conf_lines"]])
        facts = partition_probe.measure_partitions(conf.partitions)
        flags = partition_probe.flag_partitions(facts)
        name = list(conf.partitions)[0]
        assert [f["flag"] for f in flags[name]] == ["missing"]
        assert "does not exist" in flags[name][0]["message"]
        assert not os.path.exists(conf.partitions[name])  # unlike Cyrus, nothing is created
        for fact in facts:
            fact["flags"] = flags[fact["name"]]
        with pytest.raises(d.SelectionError, match="every partition is excluded"):
            placement.choose_partitions(facts, {})
    finally:
        os.rmdir(base)


# -- FC-16: soft limit edges, full partitions, random ------------------------------------


@checks("FC-16", "limit-50-weighted", "limit-60-boundary", "limit-20-all-over", "random-ignores-usage")
def fc16_distribution(variant):
    assert_distribution(chances(variant), variant["expected"]["distribution_percent"])


@checks("FC-16", "all-full-no-default")
def fc16_all_full(variant):
    with pytest.raises(d.SelectionError, match=variant["expected"]["error"]):
        chosen(variant)


# -- FC-17: the doc page's option names -------------------------------------------------


@checks("FC-17", "doc-names")
def fc17_doc_names(variant):
    expected = variant["expected"]
    conf = conf_of(variant["imapd_conf_lines"])
    assert ["unknown option %s" % name for name in conf.unknown_options] == expected["parser_warnings"]
    for option, value in expected["effective"].items():
        assert conf.get(option) == value
    assert chosen(variant) == expected["cyrus_actual"]
    assert chosen(variant) != expected["operator_intended"]


@checks("FC-17", "real-names")
def fc17_real_names(variant):
    assert conf_of(variant["imapd_conf_lines"]).unknown_options == []
    assert chosen(variant) == variant["expected"]["partition"]


# -- FC-18: case and characters of partition names --------------------------------------


@checks("FC-18", "exclude-mixed-case")
def fc18_exclude_case(variant):
    expected = variant["expected"]
    conf = conf_of(variant["imapd_conf_lines"])
    assert list(conf.partitions) == [p["name"] for p in variant["partitions"]]
    selection = placement.partition_selection(partition_facts(variant), settings_of(variant))
    assert selection.excluded == expected["excluded"]
    assert selection.select() == expected["cyrus_actual"]


@checks("FC-18", "defaultpartition-mixed-case")
def fc18_default_case(variant):
    conf = conf_of(variant["imapd_conf_lines"])
    assert conf.get("defaultpartition") == variant["expected"]["defaultpartition_effective"]


@checks("FC-18", "explicit-create-mixed-case")
def fc18_explicit_case(variant):
    # Cyrus compares the CREATE's partition with the lower-cased names: Fast is unknown.
    # tests/integration/test_field_cases_real.py sends this CREATE to the real server.
    conf = conf_of(variant["imapd_conf_lines"])
    assert variant["request"]["explicit_partition"] not in conf.partitions
    assert variant["request"]["explicit_partition"].lower() in conf.partitions


@checks("FC-18", "defaultpartition-with-dash", "defaultpartition-undefined")
def fc18_default_errors(variant):
    with pytest.raises(imapd_conf.ImapdConfError) as caught:
        conf_of(variant["imapd_conf_lines"])
    expected = variant["expected"]["config_error"].split(" (")[0]
    assert expected in str(caught.value)
    assert caught.value.lineno == 2


# -- FC-19: bulk creation ----------------------------------------------------------------


@checks("FC-19", "freespace-most-1000-creates-one-session")
def fc19_bulk(variant):
    counts = dict((p["name"], 0) for p in variant["partitions"])
    for name in placement.choose_partitions(partition_facts(variant), settings_of(variant), count=1000)[0]:
        counts[name] += 1
    assert counts == variant["expected"]["counts"]


@checks("FC-19", "weighted-delta-1000-creates", "random-1000-creates")
def fc19_distribution(variant):
    assert_distribution(chances(variant), variant["expected"]["distribution_percent"])


# -- FC-21: fact gathering that hangs or lacks data ---------------------------------------


@checks("FC-21", "hung-nfs-partition")
def fc21_hung(variant):
    # the real hang is injected in tests/unit/test_partition_probe.py; here: a timed-out
    # partition is unmeasurable and the default policy refuses to guess
    nfs = [m for m in variant["mounts"] if m["fstype"] == "nfs"][0]
    facts = [{"name": "p1", "path": "/srv/cyrus/p1", "available_kib": 10, "total_kib": 100, "fsid": 1,
              "measurable": True, "flags": []},
             {"name": "p3", "path": nfs["mount"], "available_kib": None, "total_kib": None, "fsid": None,
              "measurable": False, "timed_out": True, "error": "statvfs did not return within 5.0 s", "flags": []}]
    with pytest.raises(d.UnmeasurableError, match="'p3': statvfs did not return"):
        placement.choose_partitions(facts, {})
    assert placement.choose_partitions(facts, {}, on_unmeasurable="skip")[0] == ["p1"]


@checks("FC-21", "partial-ansible_mounts")
def fc21_partial(variant):
    conf = conf_of(variant["imapd_conf_lines"])
    facts = [{"name": name, "path": path} for name, path in conf.partitions.items()]
    with pytest.raises(d.UnmeasurableError) as caught:
        placement.choose_partitions(facts, {}, unmounted="include")
    assert [name for name, _ in caught.value.failures] == list(conf.partitions)


# -- FC-24: random choices in templates --------------------------------------------------


@checks("FC-24", "unseeded")
def fc24_unseeded(variant):
    names = variant["vars"]["cyrus_partitions"]
    facts = [{"name": n, "path": "/srv/" + n, "available_kib": 50, "total_kib": 100, "fsid": i, "measurable": True}
             for i, n in enumerate(names)]
    runs = [placement.choose_partitions(facts, {"partition_select_mode": "random"}, count=10)[0] for _ in range(2)]
    assert runs[0] == runs[1]


@checks("FC-24", "seeded-across-python")
def fc24_seeded(variant):
    import hashlib
    import struct
    names = variant["vars"]["cyrus_partitions"]
    seed = variant["vars"]["inventory_hostname"]
    facts = [{"name": n, "path": "/srv/" + n, "available_kib": 50, "total_kib": 100, "fsid": i, "measurable": True}
             for i, n in enumerate(names)]
    got = placement.choose_partitions(facts, {"partition_select_mode": "random"}, seed=seed)[0][0]
    first = hashlib.shake_256(seed.encode() + b"\0" + b"0").digest(4)
    assert got == names[(struct.unpack(">I", first)[0] & 0x7FFFFFFF) % len(names)]


# -- FC-25: edits that Cyrus refuses -----------------------------------------------------


@checks("FC-25", "duplicate-known-option", "duplicate-partition-key", "percent-in-int", "bad-enum",
        "empty-value", "space-before-colon")
def fc25_refused(variant):
    lines = variant.get("file_after") or variant["imapd_conf_lines"]
    with pytest.raises(imapd_conf.ImapdConfError) as caught:
        conf_of(lines)
    expected = variant["expected"]["config_error"].replace(" (fatal)", "")
    message = caught.value.message
    if "(second occurrence" in expected:
        assert expected.split(" (")[0] in message and expected.split(" (")[1].rstrip(")") in message
    elif expected.startswith("invalid value") or expected.startswith("non-integer"):
        assert message.startswith(expected)
    else:
        assert expected.split(" (")[0] in message
    assert caught.value.lineno == len(lines) if variant["name"] == "duplicate-known-option" else caught.value.lineno


@checks("FC-25", "service-specific-override-is-not-a-duplicate")
def fc25_override(variant):
    lines = variant["imapd_conf_lines"]
    for label, mode in variant["expected"]["effective"].items():
        service = label.split()[1]
        assert imapd_conf.parse_imapd_conf("\n".join(lines), service=service).get("partition_select_mode") == mode
