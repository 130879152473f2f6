// The rollouts panel: a CartPole-v1 rollout with its trajectory plotted (episode returns and GAE
// advantages), and stateful runs stepped request by request with the plot extended each time.
// Every request shows its client round-trip time and x-request-id.
import { api, timingText } from "./api.js";
import { $, announce, fillFacts, showError } from "./dom.js";
import { plot, COLORS } from "./plot.js";
import { readRolloutAnswer } from "./safetensors.js";

const MAX_ENV_STEPS = 131072;

/**
 * Per-episode returns and the per-step mean advantage from a trajectory of the binary answer:
 * tensors {shape: [steps, envs], data} in row-major order (element [t][i] at t * envs + i).
 */
export function summarizeTrajectory(trajectory) {
  const { rewards, terminated, truncated, advantages } = trajectory;
  const [steps, envs] = rewards.shape;
  const running = new Array(envs).fill(0);
  const episodes = [];
  const meanAdvantage = [];
  for (let t = 0; t < steps; t++) {
    let sum = 0;
    for (let i = 0; i < envs; i++) {
      const k = t * envs + i;
      running[i] += rewards.data[k];
      if (terminated.data[k] || truncated.data[k]) {
        episodes.push([t + 1, running[i]]);
        running[i] = 0;
      }
      sum += advantages.data[k];
    }
    meanAdvantage.push([t + 1, envs ? sum / envs : 0]);
  }
  return { steps, envs, episodes, meanAdvantage };
}

function readForm(form) {
  const number = (name) => Number(form.elements[name].value);
  const seedText = form.elements.seed.value.trim();
  return {
    num_envs: number("num_envs"),
    steps: number("steps"),
    seed: seedText === "" ? undefined : Number(seedText),
    gamma: number("gamma"),
    lambda: number("lambda"),
  };
}

function drawRollout(canvas, summary) {
  const { steps, episodes, meanAdvantage } = summary;
  plot(canvas, {
    xRange: [0, Math.max(1, steps)],
    xLabel: "step",
    ratio: 0.5,
    minHeight: 300,
    maxHeight: 420,
    panels: [
      {
        title: "Episode return (at the step it ended)",
        includeZero: true,
        empty: "no episode ended in this rollout",
        series: [{ label: "episode return", color: COLORS.returns, kind: "dots", points: episodes }],
      },
      {
        title: "Mean GAE advantage over envs",
        includeZero: true,
        series: [{ label: "mean advantage", color: COLORS.advantage, kind: "line", points: meanAdvantage }],
      },
    ],
  });
}

export function initRollouts() {
  const form = $("rollout-form");
  const canvas = $("ro-canvas");
  const runCanvas = $("run-canvas");
  const run = { id: null, totalSteps: 0, points: [], episodes: [] };

  const drawRun = () => {
    plot(runCanvas, {
      xRange: [0, Math.max(1, run.totalSteps)],
      xLabel: "total steps per env",
      ratio: 0.4,
      minHeight: 220,
      maxHeight: 320,
      panels: [
        {
          title: "Mean episode return per step request",
          includeZero: true,
          empty: run.points.length ? "no episode finished yet" : "create a run, then step it",
          series: [{ label: "mean return", color: COLORS.run, kind: "line", markers: true, points: run.points }],
        },
        {
          title: "Episodes finished per step request",
          includeZero: true,
          series: [{ label: "episodes", color: COLORS.spread, kind: "line", markers: true, points: run.episodes }],
        },
      ],
    });
    runCanvas.dataset.points = String(run.points.length);
    runCanvas.setAttribute("aria-label", run.id
      ? `Run plot: ${run.points.length} step requests, ${run.totalSteps} steps per env`
      : "Run plot: create a run and step it");
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = readForm(form);
    showError($("ro-error"), "");
    if (values.num_envs * values.steps > MAX_ENV_STEPS) {
      showError($("ro-error"), `Envs × steps must be at most ${MAX_ENV_STEPS}; lower one of them.`);
      return;
    }
    const button = $("ro-run");
    button.disabled = true;
    form.setAttribute("aria-busy", "true");
    try {
      // The binary (safetensors) answer: half the bytes of the JSON one and no 1-20 MB JSON.parse.
      const result = await api("POST", "/api/rollout", {
        body: { env: "CartPole-v1", ...values, include: ["trajectory"] },
        binary: true,
      });
      const { summary: body, trajectory } = readRolloutAnswer(result.body);
      const summary = summarizeTrajectory(trajectory);
      drawRollout(canvas, summary);
      canvas.dataset.episodes = String(summary.episodes.length);
      canvas.setAttribute("aria-label",
        `Rollout plot: ${summary.episodes.length} episodes ended over ${summary.steps} steps of ${summary.envs} envs; ` +
        `mean episode return ${body.mean_episode_return == null ? "none" : body.mean_episode_return.toFixed(1)}`);
      fillFacts($("ro-summary"), [
        ["envs × steps", `${body.num_envs} × ${body.steps}`],
        ["seed", body.seed],
        ["episodes finished", body.episodes_finished],
        ["mean episode return", body.mean_episode_return == null ? "—" : body.mean_episode_return.toFixed(2)],
        ["reward sum", body.reward_sum],
      ]);
      const meta = $("ro-meta");
      meta.hidden = false;
      meta.textContent = `Rollout: ${(result.bytes / 1000).toFixed(1)} kB safetensors · ${timingText(result)}`;
      announce(`Rollout done: ${body.episodes_finished} episodes finished.`);
    } catch (err) {
      showError($("ro-error"), err.message);
    } finally {
      button.disabled = false;
      form.removeAttribute("aria-busy");
    }
  });

  const setRun = (id) => {
    run.id = id;
    $("run-step").disabled = !id;
    $("run-delete").disabled = !id;
    $("run-id").textContent = id ? `run ${id}` : "";
  };

  $("run-create").addEventListener("click", async () => {
    if (!form.reportValidity()) return;
    const values = readForm(form);
    showError($("ro-error"), "");
    try {
      const body = { num_envs: values.num_envs };
      if (values.seed !== undefined) body.seed = values.seed;
      const result = await api("POST", "/api/rollout/runs", { body });
      run.totalSteps = 0;
      run.points = [];
      run.episodes = [];
      setRun(result.body.id);
      drawRun();
      const meta = $("run-meta");
      meta.hidden = false;
      meta.textContent = `Created run (${result.body.num_envs} envs, seed ${result.body.seed}): ${timingText(result)}`;
      announce("Run created; press Step to advance it.");
      $("run-step").focus();
    } catch (err) {
      showError($("ro-error"), err.message);
    }
  });

  $("run-step").addEventListener("click", async () => {
    if (!run.id || !form.reportValidity()) return;
    const steps = readForm(form).steps;
    const button = $("run-step");
    button.disabled = true;
    showError($("ro-error"), "");
    try {
      const result = await api("POST", `/api/rollout/runs/${encodeURIComponent(run.id)}/step`, { body: { steps } });
      const body = result.body;
      run.totalSteps += body.steps;
      run.points.push([run.totalSteps, body.mean_episode_return ?? NaN]);
      run.episodes.push([run.totalSteps, body.episodes_finished]);
      drawRun();
      const meta = $("run-meta");
      meta.hidden = false;
      meta.textContent = `Step ${run.points.length}: +${body.steps} steps, ${body.episodes_finished} episodes finished · ${timingText(result)}`;
      announce(`Stepped the run to ${run.totalSteps} steps.`);
    } catch (err) {
      showError($("ro-error"), err.message);
    } finally {
      button.disabled = !run.id;
    }
  });

  $("run-delete").addEventListener("click", async () => {
    if (!run.id) return;
    try {
      const result = await api("DELETE", `/api/rollout/runs/${encodeURIComponent(run.id)}`);
      setRun(null);
      run.points = [];
      run.episodes = [];
      run.totalSteps = 0;
      drawRun();
      $("run-meta").textContent = `Deleted the run · ${timingText(result)}`;
      announce("Run deleted.");
      $("run-create").focus();
    } catch (err) {
      showError($("ro-error"), err.message);
    }
  });

  // Empty axes until the first run, so the panel shows what will be drawn.
  drawRollout(canvas, { steps: Number(form.elements.steps.value) || 1, episodes: [], meanAdvantage: [] });
  canvas.dataset.episodes = "0";
  drawRun();
}
