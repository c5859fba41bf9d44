# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""select_many(n) is a faster way to make exactly the choices of n select() calls."""

from hypothesis import given, settings, strategies as st

from ansible_collections.imapops.cyrus.plugins.module_utils import distribution as d

usage = st.one_of(
    st.tuples(st.integers(0, 1000), st.integers(1, 1000)).map(lambda t: d.Usage(min(t), t[1], None)),
    st.just(OSError(5, "EIO")), st.just(d.Usage(0, 0, None)))


class ChangingMeasure(object):
    """Each measurement pass returns the next layout: what a re-measure would see."""

    def __init__(self, layouts, fsids):
        self.layouts, self.fsids, self.calls = layouts, fsids, 0

    def __call__(self, name):
        layout = self.layouts[(self.calls // len(self.fsids)) % len(self.layouts)]
        self.calls += 1
        value = layout[name]
        if isinstance(value, Exception):
            raise value
        return d.Usage(value.available_kib, value.total_kib, self.fsids[name])


@settings(max_examples=300, deadline=None, derandomize=True)
@given(count=st.integers(1, 6), data=st.data(), mode=st.sampled_from(d.SELECT_MODES),
       reinit=st.integers(0, 4), limit=st.sampled_from([0, 30, 60, 90]),
       policy=st.sampled_from(["random", "skip"]), draws=st.integers(1, 40), seed=st.text(max_size=5))
def test_select_many_equals_sequential_selects(count, data, mode, reinit, limit, policy, draws, seed):
    names = ["p%d" % i for i in range(count)]
    fsids = dict((name, data.draw(st.integers(0, 2))) for name in names)
    layouts = [dict((name, data.draw(usage)) for name in names) for _ in range(3)]

    def build():
        return d.SelectionList(names, ChangingMeasure(layouts, fsids), mode=mode, soft_usage_limit=limit,
                               usage_reinit=reinit, rand=d.stable_rand(seed), on_unmeasurable=policy)

    sequential = build()
    expected = [sequential.select() for _ in range(draws)]
    bulk = build()
    split = data.draw(st.integers(0, draws))
    assert bulk.select_many(split) + bulk.select_many(draws - split) == expected
    assert bulk.measurements_taken == sequential.measurements_taken


def test_select_many_with_a_plain_rand_callable():
    values = iter([0, 1, 2, 3, 4])
    sel = d.SelectionList(["a", "b", "c"], lambda n: d.Usage(1, 2, n), mode="random", rand=lambda: next(values))
    assert sel.select_many(5) == ["a", "b", "c", "a", "b"]
