/** The SSH transport: the only module that uses ssh2. */
export { connectHost, SshConnection } from './connection';
export type { HostKeyInfo } from './connect';
export { fingerprint } from './host-key';
export { sshSettingsFromAnswers, sshTargetFromAnswers, DEFAULT_KNOWN_HOSTS } from './settings';
export type { HostKeyQuestion, InteractiveChoices, JumpHost, SshSettings, SshTarget } from './settings';
