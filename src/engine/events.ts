import type { Action } from './plan';

/**
 * What the engine tells the outside world. Reporters (task list, plain
 * lines, JSON lines) and the log are all driven by these events.
 */
export type RunEvent =
  | { type: 'run-start'; mode: 'apply' | 'plan'; hosts: string[]; phases: string[] }
  | { type: 'connected'; host: string; address: string; user: string }
  | { type: 'lock-taken-over'; host: string; holder: string; why: string }
  | { type: 'phase-start'; phase: string; title: string; hosts: string[] }
  | { type: 'step-start'; phase: string; host: string }
  | { type: 'action'; phase: string; host: string; description: string }
  | { type: 'step-done'; phase: string; host: string; changed: number; durationMs: number; actions: Action[] }
  | { type: 'step-failed'; phase: string; host: string; durationMs: number; error: string; hint?: string }
  | { type: 'step-skipped'; phase: string; host: string; reason: string }
  | { type: 'run-done'; ok: boolean; summary: SummaryRow[]; logFile?: string };

export type StepStatus = 'ok' | 'changed' | 'planned' | 'failed' | 'skipped';

export interface SummaryRow {
  host: string;
  phase: string;
  status: StepStatus;
  changed: number;
  durationMs: number;
}

export interface Reporter {
  handle(event: RunEvent): void;
  /** Called once after run-done, e.g. to let a live display finish drawing. */
  close(): Promise<void>;
}
