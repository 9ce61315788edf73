/**
 * Demo workload: validate every row of the HUD/USPS ZIP → county crosswalk
 * (`zip-county-fips-2017-06.csv`, header `ZIP,COUNTYNAME,STATE,STCOUNTYFP,CLASSFP`) and count
 * the anomalies per state.
 *
 *   npx cairn run examples/zip-fips/validate.ts --input ../shared/data/zip-county-fips-2017-06.csv --format csv
 *
 * One EU per CSV record; the record arrives as an object of strings keyed by the header. The
 * function is pure (no clock, no randomness, no module-level mutable state), so each output
 * depends only on its row. Output per row (canonical JSON):
 *
 *   { anomalies: string[], fips, state, valid, zip }     valid === (anomalies.length === 0)
 *
 * Anomaly codes (checked in this order; a row can have several):
 *   zip_format          ZIP is not exactly 5 ASCII digits
 *   county_name_empty   COUNTYNAME is empty or only whitespace
 *   state_unknown       STATE is not one of the 57 jurisdictions with a FIPS state code below
 *                       (50 states, DC, AS, GU, MP, PR, VI, UM). Military "states" (AA, AE, AP)
 *                       and the freely associated states (FM, MH, PW) have USPS codes but no
 *                       counties, so in a county crosswalk they are reported as unknown.
 *   fips_format         STCOUNTYFP is not exactly 5 ASCII digits
 *   state_fips_mismatch the first two digits of STCOUNTYFP are not the state's FIPS code
 *                       (only checked when the state is known and STCOUNTYFP is well-formed)
 *   classfp_unknown     CLASSFP is not a Census class code for a county or equivalent:
 *                       H1, H4, H5, H6, C7. (C1–C6 are class codes of places that are NOT
 *                       county equivalents, so they are not accepted in a county column.)
 *   zip_state_range     the ZIP's 3-digit prefix is not allocated to STATE by USPS (table
 *                       below; only checked when the ZIP is well-formed and the state has an
 *                       allocation — UM has none). Real cross-border ZIPs trigger this: a ZIP
 *                       whose post office is in one state can deliver into a county of the
 *                       neighbouring state, and the crosswalk then has a row for that county.
 *
 * Reduce (folded in EU-id order): `{ states: { [STATE]: Tally }, total: Tally }` where
 * Tally = `{ rows, valid, anomalies: { [code]: rows with that code } }`; codes that never occur
 * are absent. A row with two anomalies counts once in `rows`/`valid` and once under each code.
 */

export interface Row {
  ZIP: string;
  COUNTYNAME: string;
  STATE: string;
  STCOUNTYFP: string;
  CLASSFP: string;
}

export interface RowResult {
  anomalies: string[];
  fips: string;
  state: string;
  valid: boolean;
  zip: string;
}

export interface Tally {
  rows: number;
  valid: number;
  anomalies: Record<string, number>;
}

export interface Summary {
  states: Record<string, Tally>;
  total: Tally;
}

/** Official FIPS state codes (FIPS 5-2 / INCITS 38) of the states, DC and the territories. */
const STATE_FIPS: Readonly<Record<string, string>> = Object.freeze({
  AL: "01", AK: "02", AZ: "04", AR: "05", CA: "06", CO: "08", CT: "09", DE: "10", DC: "11", FL: "12",
  GA: "13", HI: "15", ID: "16", IL: "17", IN: "18", IA: "19", KS: "20", KY: "21", LA: "22", ME: "23",
  MD: "24", MA: "25", MI: "26", MN: "27", MS: "28", MO: "29", MT: "30", NE: "31", NV: "32", NH: "33",
  NJ: "34", NM: "35", NY: "36", NC: "37", ND: "38", OH: "39", OK: "40", OR: "41", PA: "42", RI: "44",
  SC: "45", SD: "46", TN: "47", TX: "48", UT: "49", VT: "50", VA: "51", WA: "53", WV: "54", WI: "55",
  WY: "56", AS: "60", GU: "66", MP: "69", PR: "72", UM: "74", VI: "78",
});

/**
 * USPS allocation of 3-digit ZIP prefixes (sectional center / area distribution codes) to
 * states, as inclusive ranges "lo-hi" or single prefixes. Prefixes used only by the military
 * (090–098 AE, 340 AA, 962–966 AP) and unassigned prefixes belong to no state here.
 */
const ZIP3_RANGES: Readonly<Record<string, string>> = Object.freeze({
  MA: "010-027 055", RI: "028-029", NH: "030-038", ME: "039-049", VT: "050-054 056-059",
  CT: "060-069", NJ: "070-089", NY: "005 100-149", PA: "150-196", DE: "197-199",
  DC: "200 202-205 569", VA: "201 220-246", MD: "206-219", WV: "247-268", NC: "270-289",
  SC: "290-299", GA: "300-319 398-399", FL: "320-339 341-349", AL: "350-369", TN: "370-385",
  MS: "386-397", KY: "400-427", OH: "430-459", IN: "460-479", MI: "480-499", IA: "500-528",
  WI: "530-549", MN: "550-567", SD: "570-577", ND: "580-588", MT: "590-599", IL: "600-629",
  MO: "630-658", KS: "660-679", NE: "680-693", LA: "700-714", AR: "716-729",
  OK: "730-731 734-749", TX: "733 750-799 885", CO: "800-816", WY: "820-831", ID: "832-838",
  UT: "840-847", AZ: "850-865", NM: "870-884", NV: "889-898", CA: "900-961", HI: "967-968",
  OR: "970-979", WA: "980-994", AK: "995-999",
  PR: "006-007 009", VI: "008", GU: "969", MP: "969", AS: "967",
});

/** The county-equivalent class codes of the Census national counties file. */
const CLASS_CODES: ReadonlySet<string> = new Set(["H1", "H4", "H5", "H6", "C7"]);

/** state → set of allowed 3-digit prefixes, built once from ZIP3_RANGES (read-only after). */
const ZIP3_BY_STATE: ReadonlyMap<string, ReadonlySet<string>> = (() => {
  const m = new Map<string, Set<string>>();
  for (const [state, spec] of Object.entries(ZIP3_RANGES)) {
    const set = new Set<string>();
    for (const part of spec.split(" ")) {
      const [lo, hi = lo] = part.split("-") as [string, string?];
      for (let p = Number(lo); p <= Number(hi); p++) set.add(String(p).padStart(3, "0"));
    }
    m.set(state, set);
  }
  return m;
})();

const FIVE_DIGITS = /^[0-9]{5}$/;
const COLUMNS = ["ZIP", "COUNTYNAME", "STATE", "STCOUNTYFP", "CLASSFP"] as const;

/** Checks one row; anomaly codes come out in a fixed order. */
export function check(row: Row): string[] {
  const anomalies: string[] = [];
  const { ZIP: zip, COUNTYNAME: county, STATE: state, STCOUNTYFP: fips, CLASSFP: cls } = row;
  const zipOk = FIVE_DIGITS.test(zip);
  if (!zipOk) anomalies.push("zip_format");
  if (county.trim() === "") anomalies.push("county_name_empty");
  const stateFips = Object.hasOwn(STATE_FIPS, state) ? STATE_FIPS[state] : undefined;
  if (stateFips === undefined) anomalies.push("state_unknown");
  const fipsOk = FIVE_DIGITS.test(fips);
  if (!fipsOk) anomalies.push("fips_format");
  if (stateFips !== undefined && fipsOk && fips.slice(0, 2) !== stateFips) anomalies.push("state_fips_mismatch");
  if (!CLASS_CODES.has(cls)) anomalies.push("classfp_unknown");
  const prefixes = ZIP3_BY_STATE.get(state);
  if (zipOk && prefixes !== undefined && !prefixes.has(zip.slice(0, 3))) anomalies.push("zip_state_range");
  return anomalies;
}

/** The execution function: one CSV record in, one RowResult out. */
export default function validate(input: unknown): RowResult {
  if (typeof input !== "object" || input === null) throw new TypeError("expected a CSV record (an object of strings)");
  const rec = input as Record<string, unknown>;
  for (const col of COLUMNS) {
    if (typeof rec[col] !== "string") throw new TypeError(`record has no string column "${col}" (expected header ${COLUMNS.join(",")})`);
  }
  const row = rec as unknown as Row;
  const anomalies = check(row);
  return { anomalies, fips: row.STCOUNTYFP, state: row.STATE, valid: anomalies.length === 0, zip: row.ZIP };
}

export const initial: Summary = { states: {}, total: { rows: 0, valid: 0, anomalies: {} } };

function add(t: Tally, out: RowResult): void {
  t.rows += 1;
  if (out.valid) t.valid += 1;
  for (const code of out.anomalies) t.anomalies[code] = (t.anomalies[code] ?? 0) + 1;
}

/** Folds one row's result into the per-state counts (acc arrives as parsed JSON; mutating it is fine). */
export function reduce(acc: Summary, out: RowResult): Summary {
  const states = acc.states;
  let t = Object.hasOwn(states, out.state) ? states[out.state] : undefined;
  if (t === undefined) {
    t = { rows: 0, valid: 0, anomalies: {} };
    // defineProperty, not assignment: a STATE value such as "__proto__" must become a key.
    Object.defineProperty(states, out.state, { value: t, enumerable: true, writable: true, configurable: true });
  }
  add(t, out);
  add(acc.total, out);
  return acc;
}
