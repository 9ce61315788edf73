/** Placements (local, ssh; guest is recognised and unsupported). */
export * from "./placement.js";
export * from "./ssh.js";
