// The steps on the lab page: which are done, which is current, checks with their FAIL: message
// and earned hints, and "Do this step again".
import { ApiError, restartStep, runCheck, type SessionInfo } from './lab-api.ts';

/** Marks passed steps, the current step (the first not passed) and the progress line. */
export function showProgress(root: HTMLElement, passedSteps: readonly string[]): void {
  const steps = [...root.querySelectorAll<HTMLElement>('.lab-step')];
  const current = steps.find((step) => !passedSteps.includes(step.dataset.stepId!));

  for (const step of steps) {
    const passed = passedSteps.includes(step.dataset.stepId!);
    step.classList.toggle('passed', passed);
    step.classList.toggle('current', step === current);
    step.querySelector<HTMLElement>('.lab-step-done')!.hidden = !passed;
  }

  const progress = root.querySelector<HTMLElement>('.lab-progress')!;
  const done = steps.filter((step) => passedSteps.includes(step.dataset.stepId!)).length;
  if (done === steps.length) progress.textContent = `All ${done} steps done. Well done!`;
  else if (done > 0) progress.textContent = `${done} of ${steps.length} steps done.`;
  else progress.textContent = '';
}

export function showHints(step: HTMLElement, hints: readonly string[]): void {
  const box = step.querySelector<HTMLElement>('.lab-hints')!;
  const list = box.querySelector<HTMLElement>('.lab-hint-list')!;
  list.replaceChildren(
    ...hints.map((text) => {
      const item = document.createElement('li');
      item.append(...withInlineCode(text));
      return item;
    }),
  );
  box.hidden = hints.length === 0;
}

/**
 * Turns Markdown's `inline code` in a hint or message into code elements and leaves the rest as
 * text: hints come from lab files, and no HTML in them is ever parsed.
 */
export function withInlineCode(text: string): Node[] {
  return text.split(/(`[^`]+`)/).map((part) => {
    if (!/^`[^`]+`$/.test(part)) return document.createTextNode(part);
    const code = document.createElement('code');
    code.textContent = part.slice(1, -1);
    return code;
  });
}

/**
 * Runs a step's check (waiting for a `poll` step) and shows the outcome. `startedBecause` is the
 * reason shown when the check runs without the learner pressing Check.
 */
export async function checkStep(root: HTMLElement, button: HTMLButtonElement, session: SessionInfo, startedBecause?: string): Promise<void> {
  const step = button.closest<HTMLElement>('.lab-step')!;
  const result = step.querySelector<HTMLElement>('.lab-check-result')!;
  const waits = step.dataset.checkMode === 'poll';
  button.disabled = true;
  result.dataset.passed = '';
  result.textContent = `${startedBecause ?? ''}${waits ? 'Waiting for this step to be done…' : 'Checking…'}`;

  try {
    const outcome = await runCheck(session, button.dataset.stepId!, waits);
    result.replaceChildren(...withInlineCode(outcome.passed ? '✓ Passed' : `✗ ${outcome.message}`));
    result.dataset.passed = String(outcome.passed);
    showHints(step, outcome.hints);
    showProgress(root, outcome.passedSteps);
  } catch (error) {
    result.textContent = error instanceof ApiError ? error.message : String(error);
    result.dataset.passed = 'false';
  } finally {
    button.disabled = false;
  }
}

/** Forgets the step (and later ones) as done and runs its setup again, if it has one. */
export async function redoStep(root: HTMLElement, button: HTMLButtonElement, session: SessionInfo): Promise<void> {
  const step = button.closest<HTMLElement>('.lab-step')!;
  const result = step.querySelector<HTMLElement>('.lab-check-result')!;
  button.disabled = true;

  try {
    const { passedSteps } = await restartStep(session, button.dataset.stepId!);
    showProgress(root, passedSteps);
    result.dataset.passed = '';
    result.textContent =
      step.dataset.hasSetup === 'true'
        ? 'This step starts again: its setup has run.'
        : 'This step starts again. It has no setup, so your containers are as you left them.';
  } catch (error) {
    result.textContent = error instanceof ApiError ? error.message : String(error);
  } finally {
    button.disabled = false;
  }
}
