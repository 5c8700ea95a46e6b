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
    // A "✓ Passed" beside a step that is no longer done (redone, reset) would contradict it.
    if (!passed) clearPassedResult(step);
  }

  const progress = root.querySelector<HTMLElement>('.lab-progress')!;
  const done = steps.filter((step) => passedSteps.includes(step.dataset.stepId!)).length;
  if (done === steps.length) progress.textContent = `All ${done} steps done. Well done!`;
  else if (done > 0) progress.textContent = `${done} of ${steps.length} steps done.`;
  else progress.textContent = '';
}

function clearPassedResult(step: HTMLElement): void {
  const result = step.querySelector<HTMLElement>('.lab-check-result')!;
  if (result.dataset.passed !== 'true') return;
  result.dataset.passed = '';
  result.textContent = '';
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
export async function checkStep(
  root: HTMLElement,
  button: HTMLButtonElement,
  session: SessionInfo,
  startedBecause?: string,
): Promise<void> {
  const step = button.closest<HTMLElement>('.lab-step')!;
  const result = step.querySelector<HTMLElement>('.lab-check-result')!;
  const waits = step.dataset.checkMode === 'poll';
  button.disabled = true;
  result.dataset.passed = '';
  result.textContent = `${startedBecause ?? ''}${waits ? waitingText(step) : 'Checking…'}`;

  try {
    const outcome = await runCheck(session, button.dataset.stepId!, waits);
    result.replaceChildren(...withInlineCode(outcome.passed ? '✓ Passed' : `✗ ${outcome.message}`));
    result.dataset.passed = String(outcome.passed);
    // Hints help only while the step is still to do.
    showHints(step, outcome.passed ? [] : outcome.hints);
    showProgress(root, outcome.passedSteps);
  } catch (error) {
    result.textContent = error instanceof ApiError ? error.message : String(error);
    result.dataset.passed = 'false';
  } finally {
    button.disabled = false;
  }
}

/** Forgets the step (and later ones) as done and runs its setup again, if it has one. */
export async function redoStep(
  root: HTMLElement,
  button: HTMLButtonElement,
  session: SessionInfo,
): Promise<void> {
  const step = button.closest<HTMLElement>('.lab-step')!;
  const result = step.querySelector<HTMLElement>('.lab-check-result')!;
  const passedBefore = passedStepIds(root);
  button.disabled = true;

  try {
    const { passedSteps } = await restartStep(session, button.dataset.stepId!);
    showProgress(root, passedSteps);
    result.dataset.passed = '';
    const setup =
      step.dataset.hasSetup === 'true'
        ? 'This step starts again: its setup has run.'
        : 'This step starts again. It has no setup, so your containers are as you left them.';
    result.textContent = `${setup}${undoneLaterText(root, step, passedBefore, passedSteps)}`;
  } catch (error) {
    result.textContent = error instanceof ApiError ? error.message : String(error);
  } finally {
    button.disabled = false;
  }
}

function passedStepIds(root: HTMLElement): string[] {
  return [...root.querySelectorAll<HTMLElement>('.lab-step.passed')].map(
    (step) => step.dataset.stepId!,
  );
}

/** Lists, by number, the later steps that were done before a redo and are not done any more. */
function undoneLaterText(
  root: HTMLElement,
  step: HTMLElement,
  passedBefore: readonly string[],
  passedNow: readonly string[],
): string {
  const steps = [...root.querySelectorAll<HTMLElement>('.lab-step')];
  const numbers = steps
    .map((candidate, index) => ({ id: candidate.dataset.stepId!, number: index + 1 }))
    .filter(
      ({ number, id }) =>
        number > steps.indexOf(step) + 1 && passedBefore.includes(id) && !passedNow.includes(id),
    )
    .map(({ number }) => String(number));

  if (numbers.length === 0) return '';
  if (numbers.length === 1) return ` Step ${numbers[0]}, which builds on it, is to do again too.`;
  return ` Steps ${numbers.slice(0, -1).join(', ')} and ${numbers.at(-1)}, which build on it, are to do again too.`;
}

/** Describes how often and how long a `poll` step's check runs, from its intervalSeconds and waitSeconds. */
function waitingText(step: HTMLElement): string {
  return `Checking every ${step.dataset.checkInterval} s until this step is done, for up to ${step.dataset.checkWait} s…`;
}
