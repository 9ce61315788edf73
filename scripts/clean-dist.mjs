// Removes dist/ before a build so that modules deleted from src/ do not linger in it.
import { rmSync } from "node:fs";

rmSync(new URL("../dist", import.meta.url), { recursive: true, force: true });
