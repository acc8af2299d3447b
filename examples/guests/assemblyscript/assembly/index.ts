// text-stats: a Jobico guest in AssemblyScript using the wasi ABI (SPEC section 4).
//
// Input:  {"text": "The cat sat. The cat ran!", "top": 2}      ("top" optional, 1..50, default 5)
// Output: {"chars":25,"words":6,"unique_words":4,"lines":1,"sentences":2,
//          "avg_word_length":3.0,"reading_time_s":2,
//          "top_words":[{"word":"cat","count":2},{"word":"the","count":2}]}
// The item arrives on stdin, the result leaves on stdout, log lines go to stderr
// and the exit code is the outcome: 0 ok, 1 when the item cannot be used.
// (The shim's console.* write to stdout, so logs use process.stderr directly.)

import { parseFlatObject, quote } from "./json";
import { analyze, wordsPerMinute } from "./stats";

const DEFAULT_TOP = 5;
const MAX_TOP = 50;

function log(line: string): void {
  process.stderr.write(line + "\n");
}

function readStdin(): string {
  let chunks = new Array<Uint8Array>();
  let total = 0;
  let buf = new ArrayBuffer(64 * 1024);
  while (true) {
    let got = process.stdin.read(buf);
    if (got <= 0) break;
    chunks.push(Uint8Array.wrap(buf.slice(0, got)));
    total += got;
  }
  let all = new Uint8Array(total);
  let at = 0;
  for (let k = 0; k < chunks.length; k++) {
    all.set(chunks[k], at);
    at += chunks[k].length;
  }
  return String.UTF8.decode(all.buffer);
}

function fail(why: string): void {
  log(why);
  process.stdout.write("{\"error\":" + quote(why) + "}");
  process.exit(1);
}

function tenths(numerator: i32, denominator: i32): string {
  if (denominator == 0) return "0.0";
  let t = <i32>Math.round(<f64>numerator * 10 / <f64>denominator);
  return (t / 10).toString() + "." + (t % 10).toString();
}

function main(): void {
  let item = parseFlatObject(readStdin());
  if (item.error.length > 0) return fail(item.error);
  let text = item.stringOr("text", null);
  if (text == null) return fail("field \"text\": required, a string");
  let top = <i32>min(max(item.integerOr("top", DEFAULT_TOP), 0), MAX_TOP);

  let st = analyze(text, top);
  let parts = new Array<string>();
  for (let k = 0; k < st.top.length; k++) {
    parts.push("{\"word\":" + quote(st.top[k].word) + ",\"count\":" + st.top[k].count.toString() + "}");
  }
  let readingSeconds = (st.words * 60 + wordsPerMinute() - 1) / wordsPerMinute();
  process.stdout.write(
    "{\"chars\":" + st.chars.toString() +
    ",\"words\":" + st.words.toString() +
    ",\"unique_words\":" + st.uniqueWords.toString() +
    ",\"lines\":" + st.lines.toString() +
    ",\"sentences\":" + st.sentences.toString() +
    ",\"avg_word_length\":" + tenths(st.wordChars, st.words) +
    ",\"reading_time_s\":" + readingSeconds.toString() +
    ",\"top_words\":[" + parts.join(",") + "]}"
  );
  let event = process.env.has("JOBICO_EVENT_ID") ? process.env.get("JOBICO_EVENT_ID") : "(none)";
  log("event " + event + ": " + st.words.toString() + " words, " + st.sentences.toString() + " sentences");
}

main();
