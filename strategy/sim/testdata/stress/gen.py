#!/usr/bin/env python3
"""Stress scenarios for dfaas flow, outside the family generator's shapes."""
import json, math, random, os, sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
os.makedirs(OUT, exist_ok=True)

def r2(x): return round(x, 2)

def node(i): return "n%02d" % i

def scen(name, desc, nodes, links, load, duration=120, period="5s", seed=1, qd=None):
    s = {"name": name, "description": desc, "duration": "%ds" % duration, "period": period, "seed": seed,
         "nodes": nodes, "links": links, "load": load}
    if qd is not None:
        s["queue_depth"] = qd
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(s, f, indent=1)
        f.write("\n")

def fn(name, cap, conc=10):
    return {"name": name, "capacity": r2(cap), "concurrency": conc}

def link(a, b, rtt):
    return {"a": node(a), "b": node(b), "rtt": "%dms" % rtt}

def ld(n, f, rates, step="1s"):
    if len(rates) == 1:
        return {"node": node(n), "function": f, "rates": [r2(rates[0])]}
    return {"node": node(n), "function": f, "step": step, "rates": [r2(x) for x in rates]}

# 1. chain-12: load at one end, capacity along the chain; relay needed several hops.
def chain_end():
    n = 12
    nodes = [{"id": node(i), "functions": [fn("f", 100)]} for i in range(n)]
    links = [link(i, i + 1, 5) for i in range(n - 1)]
    load = [ld(0, "f", [180])] + [ld(i, "f", [60]) for i in range(1, n)]
    scen("chain12-end-heavy", "line of 12 nodes of capacity 100; n00 gets 180, others 60: relay n00->n01->n02...", nodes, links, load)

# 2. chain-20 with alternating heavy / empty nodes, some lacking the function.
def chain_alt():
    n = 20
    nodes = []
    for i in range(n):
        fs = [fn("f", 80)] if i % 3 != 0 else []
        nodes.append({"id": node(i), "functions": fs})
    links = [link(i, i + 1, 3 + (i % 4) * 4) for i in range(n - 1)]
    load = [ld(i, "f", [110 if i % 2 == 0 else 20]) for i in range(n)]
    scen("chain20-alternating", "line of 20; every third node runs nothing; even nodes 110 req/s, odd 20", nodes, links, load)

# 3. giant overloaded hub surrounded by tiny leaves.
def giant_hub():
    n = 16
    nodes = [{"id": node(0), "functions": [fn("f", 1000, 32)]}]
    nodes += [{"id": node(i), "functions": [fn("f", 30, 4)]} for i in range(1, n)]
    links = [link(0, i, 4 + i) for i in range(1, n)]
    load = [ld(0, "f", [1300])] + [ld(i, "f", [5]) for i in range(1, n)]
    scen("giant-hub-tiny-leaves", "star: hub of capacity 1000 receives 1300; 15 leaves of capacity 30 receive 5", nodes, links, load)

# 4. tiny overloaded leaves around a big idle hub.
def leaves_to_hub():
    n = 16
    rng = random.Random(4)
    nodes = [{"id": node(0), "functions": [fn("f", 800, 32)]}]
    nodes += [{"id": node(i), "functions": [fn("f", 20, 2)]} for i in range(1, n)]
    links = [link(0, i, 3 + i) for i in range(1, n)]
    load = [ld(0, "f", [50])]
    for i in range(1, n):
        rates = []
        for t in range(120):
            rates.append(rng.choice([10, 10, 60, 100]))
        load.append(ld(i, "f", rates, "5s" if False else "1s"))
    scen("tiny-leaves-big-hub", "star: hub capacity 800 lightly loaded; 15 leaves of capacity 20 with random loads 10-100", nodes, links, load)

# 5. two dense clusters joined by one link, one cluster overloaded.
def two_clusters():
    nodes, links = [], []
    for i in range(14):
        nodes.append({"id": node(i), "functions": [fn("f", 100)]})
    for a in range(7):
        for b in range(a + 1, 7):
            links.append(link(a, b, 2))
            links.append(link(a + 7, b + 7, 2))
    links.append(link(6, 7, 30))
    load = [ld(i, "f", [150]) for i in range(7)] + [ld(i, "f", [20]) for i in range(7, 14)]
    scen("two-clusters-one-bridge", "two full meshes of 7 joined by n06-n07; left cluster at 1.5x, right at 0.2x", nodes, links, load)

# 6. 100x heterogeneous capacities, random graph degree ~3.
def hetero():
    rng = random.Random(6)
    n = 12
    caps = [5 * (100 ** (i / (n - 1))) for i in range(n)]
    rng.shuffle(caps)
    nodes = [{"id": node(i), "functions": [fn("f", caps[i], max(1, min(32, int(caps[i] / 10))))]} for i in range(n)]
    links = []
    for i in range(n):
        links.append(link(i, (i + 1) % n, rng.randint(2, 20)))
    for _ in range(n // 2):
        a, b = rng.sample(range(n), 2)
        if abs(a - b) not in (1, n - 1):
            links.append(link(min(a, b), max(a, b), rng.randint(2, 20)))
    # dedupe
    seen = set(); L = []
    for l in links:
        k = (l["a"], l["b"])
        if k not in seen:
            seen.add(k); L.append(l)
    total = sum(caps)
    load = [ld(i, "f", [0.85 * total / n]) for i in range(n)]
    scen("hetero-100x", "12 nodes, capacities 5-500 (100x), ring plus chords; uniform load of 0.85 of the total capacity", nodes, L, load)

# 7. many functions with different costs.
def many_functions():
    rng = random.Random(7)
    n, nf = 8, 24
    nodes = [{"id": node(i), "functions": []} for i in range(n)]
    caps = {}
    for k in range(nf):
        base = 5 * (60 ** rng.random())
        conc = rng.choice([1, 2, 4, 8, 16, 32])
        hosts = rng.sample(range(n), rng.randint(1, 4))
        for h in hosts:
            c = base * (0.5 + rng.random())
            nodes[h]["functions"].append(fn("g%02d" % k, c, conc))
            caps.setdefault(k, 0)
            caps[k] += c
    links = [link(i, (i + 1) % n, rng.randint(2, 15)) for i in range(n)] + [link(i, i + 4, 10) for i in range(4)]
    load = []
    for k in range(nf):
        targets = rng.sample(range(n), rng.randint(1, 3))
        for t in targets:
            rates = []
            lvl = rng.uniform(0.5, 1.4) * caps[k] / len(targets)
            for s in range(12):
                rates.append(lvl * rng.uniform(0.3, 1.7))
            load.append(ld(t, "g%02d" % k, rates, "10s"))
    scen("many-functions-24", "8 nodes (ring with chords), 24 functions of capacities 2.5-450 and concurrency 1-32 on 1-4 nodes each; loads step every 10 s", nodes, links, load)

# 8. very bursty on/off arrivals, faster than the period.
def bursty():
    rng = random.Random(8)
    n = 8
    nodes = [{"id": node(i), "functions": [fn("f", 100)]} for i in range(n)]
    links = [link(i, (i + 1) % n, 5) for i in range(n)] + [link(i, (i + 3) % n, 8) for i in range(n)]
    seen = set(); L = []
    for l in links:
        k = tuple(sorted((l["a"], l["b"])))
        if k not in seen:
            seen.add(k); L.append(l)
    load = []
    for i in range(n):
        rates = []
        on = rng.random() < 0.3
        t = 0
        while t < 240:
            hold = rng.randint(1, 4)
            for _ in range(hold):
                rates.append(300 if on else 10)
            t += hold
            on = rng.random() < 0.3
        load.append(ld(i, "f", rates[:240], "500ms"))
    scen("bursty-onoff", "8 nodes of capacity 100; each alternates 300 / 10 req/s in bursts of 0.5-2 s", nodes, L, load)

# 9. frequent load flips between two halves, every 7 s (out of phase with the 5 s period).
def flips(step, name):
    n = 10
    nodes = [{"id": node(i), "functions": [fn("f", 100)]} for i in range(n)]
    links = [link(i, (i + 1) % n, 4) for i in range(n)]
    load = []
    for i in range(n):
        hi = i % 2 == 0
        rates = []
        for k in range(120):
            rates.append(170 if (k % 2 == 0) == hi else 20)
        load.append(ld(i, "f", rates, step))
    scen(name, "ring of 10 of capacity 100; odd and even nodes swap 170 / 20 req/s every " + step, nodes, links, load, duration=240)

# 10. period variants of a base mixed scenario.
def period_variants():
    rng = random.Random(10)
    n = 9
    nodes = [{"id": node(i), "functions": [fn("f", rng.choice([40, 80, 160]))]} for i in range(n)]
    links = []
    for i in range(3):
        for j in range(3):
            k = i * 3 + j
            if j < 2: links.append(link(k, k + 1, 5))
            if i < 2: links.append(link(k, k + 3, 5))
    load = []
    for i in range(n):
        rates = []
        lvl = nodes[i]["functions"][0]["capacity"] * rng.uniform(0.3, 1.6)
        for s in range(24):
            rates.append(lvl * rng.uniform(0.5, 1.5))
        load.append(ld(i, "f", rates, "10s"))
    for per in ("1s", "5s", "30s"):
        scen("grid9-period-" + per, "3x3 grid, capacities 40/80/160, loads step every 10 s; control period " + per, nodes, links, load, duration=240, period=per)

# 11. nodes with zero capacity for a function in the middle of the path.
def zero_cap():
    n = 10
    nodes = []
    for i in range(n):
        fs = [fn("a", 100)]
        if i in (0, 9):
            fs.append(fn("b", 200))
        if i in (4, 5):
            fs = [fn("b", 50)]
        nodes.append({"id": node(i), "functions": fs})
    links = [link(i, i + 1, 5) for i in range(n - 1)]
    load = [ld(i, "a", [90]) for i in range(n)] + [ld(4, "a", [150]), ld(5, "a", [150])] + [ld(i, "b", [60]) for i in (1, 4, 5, 8)]
    scen("chain-holes", "line of 10: n04,n05 lack function a but receive 150+90 each of it; b runs only at the ends and on the holes", nodes, links, load)

# 12. concurrency-1, tiny capacities (granularity / poisson allowance).
def tiny():
    rng = random.Random(12)
    n = 10
    nodes = [{"id": node(i), "functions": [fn("f", rng.choice([2, 3, 5, 8]), 1)]} for i in range(n)]
    links = [link(i, (i + 1) % n, 10) for i in range(n)] + [link(i, (i + 5) % n, 10) for i in range(5)]
    load = [ld(i, "f", [nodes[i]["functions"][0]["capacity"] * (1.8 if i % 3 == 0 else 0.3)]) for i in range(n)]
    scen("tiny-capacity-conc1", "10 nodes with capacities 2-8 req/s and concurrency 1; every third at 1.8x, others 0.3x", nodes, links, load, duration=300)

# 13. long RTT links (100-300 ms) relative to 1 s timeout.
def long_rtt():
    n = 8
    nodes = [{"id": node(i), "functions": [fn("f", 100)]} for i in range(n)]
    links = [link(i, (i + 1) % n, 100 + 25 * i) for i in range(n)]
    load = [ld(i, "f", [160 if i % 2 == 0 else 30]) for i in range(n)]
    scen("ring-long-rtt", "ring of 8, RTTs 100-275 ms; even nodes 160, odd 30", nodes, links, load)

# 14. dense mesh 20 nodes, single hot node at 5x.
def mesh_hot():
    n = 20
    nodes = [{"id": node(i), "functions": [fn("f", 50)]} for i in range(n)]
    links = [link(a, b, 2 + (a * 7 + b) % 9) for a in range(n) for b in range(a + 1, n)]
    load = [ld(0, "f", [20] * 20 + [500] * 60 + [20] * 40)] + [ld(i, "f", [25]) for i in range(1, n)]
    scen("mesh20-hot-node", "full mesh of 20 (capacity 50); n00 jumps from 20 to 500 req/s for 60 s", nodes, links, load)

# 15. rotating hot spot around a ring (load moves every 3 s).
def rotating():
    n = 12
    nodes = [{"id": node(i), "functions": [fn("f", 100)]} for i in range(n)]
    links = [link(i, (i + 1) % n, 5) for i in range(n)]
    load = []
    for i in range(n):
        rates = [250 if (k % n) == i else 40 for k in range(80)]
        load.append(ld(i, "f", rates, "3s"))
    scen("ring-rotating-hotspot", "ring of 12 (capacity 100); one node at 250, others 40; the hot spot moves one node every 3 s", nodes, links, load, duration=240)

# 16. gateway chain: load enters a node that runs nothing, in a line.
def gateway_line():
    n = 8
    nodes = [{"id": node(0), "functions": []}] + [{"id": node(i), "functions": [fn("f", 60 + 20 * i)]} for i in range(1, n)]
    links = [link(i, i + 1, 5) for i in range(n - 1)]
    load = [ld(0, "f", [200])] + [ld(i, "f", [40]) for i in range(1, n)]
    scen("gateway-line", "line of 8; n00 runs nothing and gets 200 req/s; n01 (80) must pass its users on", nodes, links, load)

chain_end(); chain_alt(); giant_hub(); leaves_to_hub(); two_clusters(); hetero(); many_functions(); bursty()
flips("7s", "ring10-flip-7s"); flips("2s", "ring10-flip-2s"); flips("20s", "ring10-flip-20s")
period_variants(); zero_cap(); tiny(); long_rtt(); mesh_hot(); rotating(); gateway_line()
