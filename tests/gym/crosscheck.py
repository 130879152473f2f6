#!/usr/bin/env python3
"""Cross-check of the rollout route against gymnasium's CartPoleEnv.

Feeds the same initial states and actions to gymnasium's CartPole-v1 (made with
`gymnasium.make("CartPole-v1")`, so the 500-step TimeLimit applies; its exact float64 state is set
through `env.unwrapped.state`) and to the rollout core, then compares, for every env up to and
including its first termination or truncation: the observation before each step (gymnasium's
float64 `unwrapped.state`, not the float32 observation it returns), the reward, `terminated` and
`truncated`, within 1e-9.

Modes:
  BASE_URL=... TOKEN=... python3 tests/gym/crosscheck.py
      POST {BASE_URL}/api/rollout with `initial_state`, `actions`, `include: ["trajectory"]`
      (Authorization: Bearer TOKEN) for a few generated cases.
  python3 tests/gym/crosscheck.py --local FILE
      compare against JSON lines {"case", "request", "response"} written by
      `cargo bench --bench rollout -- --dump-trajectory FILE` (no worker needed).

In BASE_URL mode each case is also requested with `Accept: application/octet-stream` and read
with the `safetensors` package (Hugging Face's reference reader), when installed: every tensor
must equal the JSON answer's array exactly, and the metadata's summary its summary fields.

Exits 0 when everything matches, 1 on a mismatch, 0 with a SKIP message when gymnasium is not
installed (install it with `pip install gymnasium` into the project venv; see bench/rollout_compare.sh),
2 on usage or connection errors. Under CI (CI=true; any value but empty, 0 or false) a check that
cannot run fails instead: a missing gymnasium, or in BASE_URL mode a missing safetensors, exits 1.
"""

import json
import math
import os
import random
import sys
import urllib.error
import urllib.request
import warnings

TOLERANCE = 1e-9

# Wide start states lie outside CartPole's observation box; the passive checker's warning is noise.
warnings.filterwarnings("ignore", message=".*not within the observation space.*")


def is_ci():
    """The CI rule of scripts/lib/env.sh (is_ci): there a check that cannot run is a failure."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false")


try:
    import gymnasium
except ImportError:  # pragma: no cover - depends on the machine
    if is_ci():
        print("FAIL: gymnasium is not installed (./scripts/setup installs it into the project venv); "
              f"cross-check not run, and under CI={os.environ.get('CI')} that fails the run")
        sys.exit(1)
    print("SKIP: gymnasium is not installed (pip install gymnasium); cross-check not run")
    sys.exit(0)

try:
    import numpy
    import safetensors
    from safetensors.numpy import load as load_safetensors
except ImportError:  # pragma: no cover - depends on the machine
    safetensors = None


def gym_reference(initial_state, actions):
    """Steps one gymnasium env per initial state; returns per-env lists of
    (state_before, reward, terminated, truncated) up to and including the first episode end."""
    steps = len(actions)
    out = []
    for i, start in enumerate(initial_state):
        env = gymnasium.make("CartPole-v1")
        env.reset(seed=0)
        env.unwrapped.state = [float(v) for v in start]
        records = []
        for t in range(steps):
            before = [float(v) for v in env.unwrapped.state]
            _, reward, terminated, truncated, _ = env.step(int(actions[t][i]))
            records.append((before, float(reward), bool(terminated), bool(truncated)))
            if terminated or truncated:
                break
        env.close()
        out.append(records)
    return out


def compare(case, request, response):
    """Returns a list of mismatch descriptions (empty when the rollout matches gymnasium)."""
    traj = response.get("trajectory")
    if traj is None:
        return [f"{case}: response has no trajectory"]
    reference = gym_reference(request["initial_state"], request["actions"])
    problems = []
    compared = ends = truncations = 0
    max_diff = 0.0
    for i, records in enumerate(reference):
        for t, (before, reward, terminated, truncated) in enumerate(records):
            got = traj["observations"][t][i]
            worst = max(abs(a - b) for a, b in zip(got, before))
            max_diff = max(max_diff, worst)
            if not worst <= TOLERANCE:
                problems.append(f"{case}: env {i} step {t}: observation {got} vs gymnasium {before}")
            if traj["rewards"][t][i] != reward:
                problems.append(f"{case}: env {i} step {t}: reward {traj['rewards'][t][i]} vs {reward}")
            if traj["terminated"][t][i] != terminated:
                problems.append(f"{case}: env {i} step {t}: terminated {traj['terminated'][t][i]} vs {terminated}")
            if traj["truncated"][t][i] != truncated:
                problems.append(f"{case}: env {i} step {t}: truncated {traj['truncated'][t][i]} vs {truncated}")
            compared += 1
            ends += terminated or truncated
            truncations += truncated
            if len(problems) > 20:
                return problems
    print(f"  {case}: {len(reference)} envs, {compared} steps compared, "
          f"{ends} episode ends ({truncations} truncations), max |obs diff| {max_diff:.3g}, "
          f"{len(problems)} mismatches")
    return problems


def generated_cases():
    rnd = random.Random(7)
    theta = 12 * 2 * math.pi / 360
    cases = []
    for name, n, steps, scale in [("reset-range starts", 16, 200, 0.1), ("wide starts", 16, 120, 2.0)]:
        initial = [[(rnd.random() - 0.5) * scale for _ in range(4)] for _ in range(n)]
        actions = [[rnd.randint(0, 1) for _ in range(n)] for _ in range(steps)]
        cases.append((name, initial, actions))
    near = [[2.39, 0.4, 0, 0], [-2.39, -0.4, 0, 0], [0, 0, theta - 0.004, 0.3], [0, 0, -theta + 0.004, -0.3]]
    cases.append(("near-threshold starts", near, [[rnd.randint(0, 1) for _ in near] for _ in range(30)]))
    # A pole balanced by a simple controller reaches the 500-step truncation.
    env = gymnasium.make("CartPole-v1")
    start = [0.01, 0.0, 0.02, 0.0]
    env.reset(seed=0)
    env.unwrapped.state = list(start)
    balanced = []
    for _ in range(510):
        s = env.unwrapped.state
        a = int(s[2] + 0.5 * s[3] + 0.01 * s[0] + 0.05 * s[1] > 0)
        balanced.append([a])
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset(seed=0)
    cases.append(("balanced to truncation", [start], balanced))
    return cases


def post_rollout(base_url, token, body, binary=False):
    """The route's answer: parsed JSON, or the raw bytes of the safetensors answer."""
    headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}
    if binary:
        headers["accept"] = "application/octet-stream"
    req = urllib.request.Request(
        base_url.rstrip("/") + "/api/rollout",
        data=json.dumps(body).encode(),
        headers=headers,
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
        if binary:
            if resp.headers.get("content-type") != "application/octet-stream":
                raise ValueError(f"binary answer has content-type {resp.headers.get('content-type')}")
            return raw
        return json.loads(raw)


def compare_binary(case, raw, response):
    """The safetensors answer, read by the reference reader, against the JSON answer: exact."""
    problems = []
    arrays = load_safetensors(raw)
    trajectory = response["trajectory"]
    if sorted(arrays) != sorted(trajectory):
        return [f"{case}: safetensors tensors {sorted(arrays)} != JSON arrays {sorted(trajectory)}"]
    for name, array in arrays.items():
        want = numpy.array(trajectory[name], dtype=array.dtype)
        # Bitwise for floats (views as integers), so even -0.0 and the last digit must agree.
        same = array.shape == want.shape and (
            numpy.array_equal(array.view(numpy.uint64), want.view(numpy.uint64))
            if array.dtype == numpy.float64 else numpy.array_equal(array, want))
        if not same:
            problems.append(f"{case}: safetensors {name} {array.dtype}{array.shape} differs from the JSON")
    header_len = int.from_bytes(raw[:8], "little")
    summary = json.loads(json.loads(raw[8:8 + header_len])["__metadata__"]["summary"])
    want_summary = {k: v for k, v in response.items() if k != "trajectory"}
    if summary != want_summary:
        problems.append(f"{case}: safetensors metadata {summary} != JSON summary {want_summary}")
    return problems


def main(argv):
    problems = []
    if len(argv) >= 2 and argv[0] == "--local":
        print(f"cross-check (local dump {argv[1]}) against gymnasium {gymnasium.__version__}")
        with open(argv[1]) as f:
            for line in f:
                if line.strip():
                    item = json.loads(line)
                    problems += compare(item["case"], item["request"], item["response"])
    elif argv:
        print(__doc__)
        return 2
    else:
        base_url, token = os.environ.get("BASE_URL"), os.environ.get("TOKEN")
        if not base_url or not token:
            print("set BASE_URL and TOKEN (or use --local FILE)")
            return 2
        if safetensors is None and is_ci():
            print("FAIL: the safetensors package is not installed (./scripts/setup installs it), so "
                  f"the binary answers cannot be checked; under CI={os.environ.get('CI')} that fails the run")
            return 1
        print(f"cross-check ({base_url}) against gymnasium {gymnasium.__version__}")
        binary_cases = 0
        for name, initial, actions in generated_cases():
            body = {"env": "CartPole-v1", "num_envs": len(initial), "steps": len(actions), "seed": 1,
                    "initial_state": initial, "actions": actions, "include": ["trajectory"]}
            try:
                response = post_rollout(base_url, token, body)
                raw = post_rollout(base_url, token, body, binary=True) if safetensors else None
            except (urllib.error.URLError, OSError, ValueError) as e:
                print(f"request failed for {name}: {e}")
                return 2
            problems += compare(name, body, response)
            if raw is not None:
                problems += compare_binary(name, raw, response)
                binary_cases += 1
        if safetensors:
            print(f"  safetensors answers read with safetensors {safetensors.__version__}: "
                  f"{binary_cases} cases compared bit for bit with the JSON answers")
        else:
            print("  binary answers not checked: the safetensors package is not installed")
    if problems:
        print("MISMATCH:")
        for p in problems[:20]:
            print("  " + p)
        return 1
    print("OK: all observations, rewards and terminations match gymnasium within 1e-9")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
