// Cairn fixture for bench (b)/(c)/(d): the trivial function `x => x.n + 1`.
export { trivial as default } from "./fns.mjs";
