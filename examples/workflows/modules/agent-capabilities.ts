/**
 * User CTs of the agent registration example (a Cairn capability module).
 *
 * A capability module exports `capabilities`: each member is one CT with its result fields
 * (`outputs`) and a synchronous, pure `run(input)`. It runs in Cairn's deterministic sandbox
 * (docs/workflow-cairn.md, "User CTs"): throwing yields the outcome VIOLATION.
 */
interface OwnerInput {
  email?: unknown;
}

function normalizeOwner(input: OwnerInput): { email: string; domain: string } {
  if (typeof input.email !== "string") throw new Error("owner email must be a string");
  const email = input.email.trim().toLowerCase();
  const at = email.lastIndexOf("@");
  if (at < 1 || at === email.length - 1 || email.includes(" ")) throw new Error(`not an email address: ${JSON.stringify(email)}`);
  return { email, domain: email.slice(at + 1) };
}

export const capabilities = {
  normalize_owner: { outputs: ["email", "domain"], run: normalizeOwner },
};
