/**
 * Docker image references, by the grammar of distribution/reference:
 * [host[:port]/]path[:tag][@sha256:digest], where path is lowercase
 * components separated by `/`. The first component is a registry host when it
 * has a `.` or `:`, is `localhost`, or has capitals (as Docker decides).
 */

const EXAMPLE = 'e.g. registry.example.com:5000/team/app:1.4 or team/app@sha256:<64 hex digits>';
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const TAG_RULE = 'must be up to 128 letters, digits, _ . or -, not starting with . or -';

/** What is wrong with an image tag, e.g. a pipeline's commit SHA, if anything. */
export function imageTagProblem(tag: string): string | null {
  return TAG.test(tag) ? null : `the tag "${tag}" ${TAG_RULE}`;
}
const SHA256 = /^sha256:[a-f0-9]{64}$/;
const MAX_NAME = 255;

function hostProblem(domain: string): string | null {
  const colon = domain.startsWith('[') ? domain.indexOf(']:') + 1 : domain.lastIndexOf(':');
  const host = colon > 0 ? domain.slice(0, colon) : domain;
  const port = colon > 0 ? domain.slice(colon + 1) : undefined;
  if (port !== undefined && !/^[0-9]+$/.test(port)) return `the registry port "${port}" is not a number`;
  const ipv6 = /^\[[0-9a-fA-F:.]+\]$/.test(host);
  if (!ipv6 && !host.split('.').every((c) => DOMAIN_COMPONENT.test(c))) return `"${host}" is not a valid registry host`;
  return null;
}

function why(ref: string): string | null {
  if (/\s/.test(ref)) return 'it contains a space';
  const at = ref.indexOf('@');
  const digest = at >= 0 ? ref.slice(at + 1) : undefined;
  let name = at >= 0 ? ref.slice(0, at) : ref;
  if (digest !== undefined && !SHA256.test(digest)) return 'the digest must be sha256: followed by 64 lowercase hex digits';
  const colon = name.lastIndexOf(':');
  if (colon > name.lastIndexOf('/')) {
    const tag = name.slice(colon + 1);
    const problem = imageTagProblem(tag);
    if (problem) return problem;
    name = name.slice(0, colon);
  }
  if (name === '') return 'it has no repository name';
  if (name.length > MAX_NAME) return `the repository name is longer than ${MAX_NAME} characters`;
  const parts = name.split('/');
  const first = parts[0];
  if (parts.length > 1 && (/[.:]/.test(first) || first === 'localhost' || first !== first.toLowerCase())) {
    const problem = hostProblem(first);
    if (problem) return problem;
    parts.shift();
  }
  for (const part of parts) {
    if (PATH_COMPONENT.test(part)) continue;
    if (PATH_COMPONENT.test(part.toLowerCase())) return 'repository names must be lowercase';
    return `"${part}" is not a valid name component (lowercase letters and digits, joined by . _ __ or -)`;
  }
  return null;
}

/** Why `ref` is not an image reference Docker accepts, with an example, or null. */
export function imageReferenceProblem(ref: string): string | null {
  const reason = why(ref);
  return reason ? `"${ref}" is not a valid image reference: ${reason} (${EXAMPLE})` : null;
}
