/**
 * The scenario form: every input carries `data-key` (a Scenario field) and, for sizes typed in
 * KiB, `data-scale` (bytes per unit). Reads and writes a Scenario; reports changes.
 */
import { type Scenario, sanitize } from '../scenario.js';

export class ScenarioForm {
  private readonly inputs: HTMLInputElement[];

  constructor(form: HTMLFormElement, onChange: (s: Scenario) => void) {
    this.inputs = [...form.querySelectorAll<HTMLInputElement>('input[data-key]')];
    form.addEventListener('change', () => onChange(this.read()));
    form.addEventListener('submit', (e) => e.preventDefault());
  }

  read(): Scenario {
    const out: Record<string, number | boolean> = {};
    for (const input of this.inputs) {
      const key = input.dataset.key as string;
      if (input.type === 'checkbox') out[key] = input.checked;
      else out[key] = Number(input.value) * Number(input.dataset.scale ?? 1);
    }
    return sanitize(out as unknown as Scenario);
  }

  write(s: Scenario): void {
    for (const input of this.inputs) {
      const v = s[input.dataset.key as keyof Scenario];
      if (input.type === 'checkbox') input.checked = Boolean(v);
      else input.value = String(Number(v) / Number(input.dataset.scale ?? 1));
    }
  }

  set disabled(off: boolean) {
    for (const input of this.inputs) input.disabled = off;
  }
}
