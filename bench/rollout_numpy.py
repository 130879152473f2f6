#!/usr/bin/env python3
"""Baselines for benches/rollout.rs: env-steps per second of CartPole-v1 rollouts in Python.

- `numpy-vectorized`: the same equations as the Rust core (gymnasium's CartPole, float64, Euler),
  written with numpy array operations over a (4, num_envs) state, random actions, per-env
  500-step truncation and same-step reset of finished envs.
- `numpy-vectorized + trajectory + GAE`: the same, also recording observations, actions, rewards
  and dones per step and computing GAE(0.99, 0.95) as CleanRL's ppo.py (values zero).
- `gymnasium CartPoleVectorEnv`: gymnasium's own vectorized CartPole (if gymnasium is installed).

Each measured call is what one rollout request does: reset all envs, then 128 steps.
Prints one JSON line per (implementation, num_envs): {"impl", "num_envs", "steps", "env_steps_per_s"}.
Run through bench/rollout_compare.sh, which installs numpy (and gymnasium) into the project venv.
"""

import json
import math
import sys
import time

import numpy as np

ENV_COUNTS = [1, 16, 64, 256, 1024]
STEPS = 128
SAMPLES = 7
MIN_SAMPLE = 0.04

GRAVITY, MASSCART, MASSPOLE = 9.8, 1.0, 0.1
TOTAL_MASS = MASSPOLE + MASSCART
LENGTH = 0.5
POLEMASS_LENGTH = MASSPOLE * LENGTH
FORCE_MAG, TAU = 10.0, 0.02
THETA_THRESHOLD = 12 * 2 * math.pi / 360
X_THRESHOLD = 2.4
MAX_STEPS = 500


def numpy_rollout(num_envs, steps, rng, record=False, gamma=0.99, lam=0.95):
    state = rng.uniform(-0.05, 0.05, size=(4, num_envs))
    episode_steps = np.zeros(num_envs, dtype=np.int32)
    reward_sum = 0.0
    if record:
        observations = np.zeros((steps, num_envs, 4))
        actions = np.zeros((steps, num_envs), dtype=np.int64)
        rewards = np.zeros((steps, num_envs))
        dones = np.zeros((steps, num_envs), dtype=bool)
        values = np.zeros((steps, num_envs))
    for t in range(steps):
        action = rng.integers(0, 2, size=num_envs)
        if record:
            observations[t] = state.T
            actions[t] = action
        x, x_dot, theta, theta_dot = state
        force = np.where(action == 1, FORCE_MAG, -FORCE_MAG)
        costheta = np.cos(theta)
        sintheta = np.sin(theta)
        temp = (force + POLEMASS_LENGTH * np.square(theta_dot) * sintheta) / TOTAL_MASS
        thetaacc = (GRAVITY * sintheta - costheta * temp) / (
            LENGTH * (4.0 / 3.0 - MASSPOLE * np.square(costheta) / TOTAL_MASS))
        xacc = temp - POLEMASS_LENGTH * thetaacc * costheta / TOTAL_MASS
        x = x + TAU * x_dot
        x_dot = x_dot + TAU * xacc
        theta = theta + TAU * theta_dot
        theta_dot = theta_dot + TAU * thetaacc
        state = np.stack((x, x_dot, theta, theta_dot))
        terminated = (x < -X_THRESHOLD) | (x > X_THRESHOLD) | (theta < -THETA_THRESHOLD) | (theta > THETA_THRESHOLD)
        episode_steps += 1
        truncated = episode_steps >= MAX_STEPS
        reward_sum += num_envs
        done = terminated | truncated
        if record:
            rewards[t] = 1.0
            dones[t] = done
        if done.any():
            k = int(done.sum())
            state[:, done] = rng.uniform(-0.05, 0.05, size=(4, k))
            episode_steps[done] = 0
    if record:
        # GAE as CleanRL's ppo.py, vectorized across envs (values are zeros: no value head).
        next_value = np.zeros(num_envs)
        advantages = np.zeros_like(rewards)
        lastgaelam = 0.0
        for t in reversed(range(steps)):
            nextnonterminal = 1.0 - dones[t]
            nextvalues = next_value if t == steps - 1 else values[t + 1]
            delta = rewards[t] + gamma * nextvalues * nextnonterminal - values[t]
            advantages[t] = lastgaelam = delta + gamma * lam * nextnonterminal * lastgaelam
        returns = advantages + values
        return returns
    return reward_sum


def gym_vector_rollout(num_envs, steps, rng, env):
    env.reset(seed=int(rng.integers(0, 2**31)))
    for _ in range(steps):
        env.step(rng.integers(0, 2, size=num_envs))


def median_rate(fn, num_envs):
    fn()
    iters = 1
    while True:
        start = time.perf_counter()
        for _ in range(iters):
            fn()
        if time.perf_counter() - start >= MIN_SAMPLE / 4 or iters >= 1 << 16:
            break
        iters *= 2
    iters *= 4
    samples = []
    for _ in range(SAMPLES):
        start = time.perf_counter()
        for _ in range(iters):
            fn()
        samples.append((time.perf_counter() - start) / iters)
    samples.sort()
    return num_envs * STEPS / samples[SAMPLES // 2]


def emit(name, n, rate):
    print(json.dumps({"impl": name, "num_envs": n, "steps": STEPS, "env_steps_per_s": rate}), flush=True)


def main():
    rng = np.random.default_rng(1)
    for n in ENV_COUNTS:
        emit(f"numpy-vectorized (numpy {np.__version__})", n, median_rate(lambda: numpy_rollout(n, STEPS, rng), n))
    for n in ENV_COUNTS:
        emit("numpy-vectorized + trajectory + GAE", n,
             median_rate(lambda: numpy_rollout(n, STEPS, rng, record=True), n))
    try:
        import gymnasium
        from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv
    except ImportError:
        print("gymnasium not installed: CartPoleVectorEnv baseline skipped", file=sys.stderr)
        return
    for n in ENV_COUNTS:
        env = CartPoleVectorEnv(num_envs=n)
        emit(f"gymnasium {gymnasium.__version__} CartPoleVectorEnv", n,
             median_rate(lambda: gym_vector_rollout(n, STEPS, rng, env), n))
        env.close()


if __name__ == "__main__":
    main()
