"""The stockpile LP of :mod:`critmin.optimize.stockpile` built a second way, with Pyomo (a check, and the
benchmark's point of comparison). Pyomo is a dev dependency only: import this module only where it is installed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from critmin.optimize.stockpile import Problem, quiet_stdout


def build_pyomo(pb: Problem) -> Any:
    """``pb`` as a Pyomo ConcreteModel: the same variables, bounds, constraints and objective as linopy's."""
    import pyomo.environ as pe

    S_, J, M, U, T = pb.d.shape
    K = len(pb.holdings)
    up = pb.upper()
    cells = [tuple(int(x) for x in ix) for ix in np.argwhere(up > 0)]
    m = pe.ConcreteModel()
    m.R = pe.Set(initialize=cells, dimen=5)
    m.r = pe.Var(m.R, bounds=lambda _m, s, j, k, u, t: (0.0, float(up[s, j, k, u, t])))
    lo = pb.stock_lower()
    fixed = None if pb.fixed is None else np.maximum(pb.fixed, lo)
    m.KM = pe.Set(initialize=[(k, i) for k in range(K) for i in range(M)], dimen=2)
    m.stock = pe.Var(m.KM, bounds=lambda _m, k, i: (float(lo[k, i]) if fixed is None else float(fixed[k, i]),
                                                    None if fixed is None else float(fixed[k, i])))
    by_skm: dict[tuple[int, int, int], list[tuple[int, int, int, int, int]]] = {}
    by_sjm: dict[tuple[int, int, int], list[tuple[int, int, int, int, int]]] = {}
    by_jmst: dict[tuple[int, int, int, int], list[tuple[int, int, int, int, int]]] = {}
    for c in cells:
        s, j, i, _u, t = c
        by_skm.setdefault((s, int(pb.holding_of[j]), i), []).append(c)
        by_sjm.setdefault((s, j, i), []).append(c)
        by_jmst.setdefault((s, j, i, t), []).append(c)
    m.stock_limit = pe.Constraint(list(by_skm), rule=lambda _m, s, k, i: sum(_m.r[c] for c in by_skm[(s, k, i)])
                                  <= _m.stock[k, i])
    if U > 1 and np.isfinite(pb.cap).any():
        rows = [key for key in by_jmst if np.isfinite(pb.cap[key[1], key[2]])]
        m.release_cap = pe.Constraint(rows, rule=lambda _m, s, j, i, t: sum(_m.r[c] for c in by_jmst[(s, j, i, t)])
                                      <= float(pb.cap[j, i]))
    m.floors = pe.ConstraintList()
    for j, i, k in pb.pool_floors():
        others = [o for o in range(J) if pb.holding_of[o] == k and o != j]
        for s in range(S_):
            terms = [m.r[c] for o in others for c in by_sjm.get((s, o, i), [])]
            m.floors.add(sum(terms) - m.stock[k, i] <= -float(pb.floors[j, i]))
    first = sum(float(pb.unit_cost[i]) * m.stock[k, i] for k, i in m.KM)
    if pb.budget is not None:
        m.budget = pe.Constraint(expr=first <= float(pb.budget))
    obj = first - sum(float(pb.p[c[0]] * pb.value[c[2], c[3]]) * m.r[c] for c in cells)
    if pb.alpha is not None and pb.lam > 0:
        m.eta = pe.Var()
        m.z = pe.Var(range(S_), bounds=(0.0, None))
        loss0 = np.einsum("sjmut,mu->s", pb.d, pb.value)
        by_s: dict[int, list] = {}
        for c in cells:
            by_s.setdefault(c[0], []).append(c)
        m.cvar = pe.Constraint(range(S_), rule=lambda _m, s: _m.z[s] + sum(float(pb.value[c[2], c[3]]) * _m.r[c]
                                                                          for c in by_s.get(s, [])) + _m.eta
                               >= float(loss0[s]))
        obj = obj + pb.lam * m.eta + sum(float(pb.lam * pb.p[s] / (1 - pb.alpha)) * m.z[s] for s in range(S_))
    m.obj = pe.Objective(expr=obj, sense=pe.minimize)
    return m


def solve_pyomo(m: Any, pb: Problem) -> float:
    """Solve the Pyomo model with HiGHS (``appsi_highs``); the expected total cost in US$ (with the constant)."""
    import pyomo.environ as pe

    opt = pe.SolverFactory("appsi_highs")
    with quiet_stdout():
        res = opt.solve(m)
    cond = str(res.solver.termination_condition)
    if "optimal" not in cond:
        raise RuntimeError(f"Pyomo/HiGHS: {cond}")
    return float(pe.value(m.obj)) + pb.const
