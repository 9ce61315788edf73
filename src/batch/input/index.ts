/** The batch engine's input layer. */
export { readRecords, FILES_ID_FIELD } from "./readers.js";
export {
  type InputFormat, type EURecord, type EUId, type ReaderOptions, type ReaderStats,
  INPUT_FORMATS, MAX_RECORD_BYTES, STDIN_NAME, newReaderStats,
} from "./types.js";
