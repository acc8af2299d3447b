// Text statistics, pure: no I/O here, so the rules read on their own.

export class WordCount {
  constructor(public word: string, public count: i32) {}
}

export class Stats {
  chars: i32 = 0; // Unicode code points
  words: i32 = 0;
  uniqueWords: i32 = 0;
  lines: i32 = 0;
  sentences: i32 = 0;
  wordChars: i32 = 0; // code units inside words, for the average length
  top: WordCount[] = [];
}

const WORDS_PER_MINUTE = 200;

// Letters and digits of any script belong to words; punctuation, symbols,
// spaces and astral characters (emoji) separate them. An apostrophe may sit
// inside a word ("don't") and is trimmed from its edges.
function isWordUnit(c: i32): bool {
  if (c >= 0x30 && c <= 0x39) return true;
  let lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x7a) return true;
  if (c == 0x27 || c == 0x2019) return true;
  if (c < 0xc0 || c == 0xd7 || c == 0xf7) return false;
  if (c >= 0x2000 && c <= 0x2bff) return false; // punctuation, symbols, arrows
  if (c >= 0x3000 && c <= 0x303f) return false; // CJK punctuation
  return c < 0xd800 || c > 0xdfff;
}

function isApostrophe(c: i32): bool {
  return c == 0x27 || c == 0x2019;
}

function isSentenceEnd(c: i32): bool {
  return c == 0x2e || c == 0x21 || c == 0x3f || c == 0x2026; // . ! ? …
}

function byCountThenWord(a: WordCount, b: WordCount): i32 {
  if (a.count != b.count) return b.count - a.count;
  return a.word < b.word ? -1 : a.word > b.word ? 1 : 0;
}

export function wordsPerMinute(): i32 {
  return WORDS_PER_MINUTE;
}

export function analyze(text: string, topN: i32): Stats {
  let st = new Stats();
  let counts = new Map<string, i32>();
  let n = text.length;
  let wordsInSentence = 0;
  let i = 0;
  while (i < n) {
    let c = text.charCodeAt(i);
    if (!isWordUnit(c)) {
      if (isSentenceEnd(c) && wordsInSentence > 0) {
        st.sentences++;
        wordsInSentence = 0;
      }
      i++;
      continue;
    }
    let start = i;
    while (i < n && isWordUnit(text.charCodeAt(i))) i++;
    let end = i;
    while (start < end && isApostrophe(text.charCodeAt(start))) start++;
    while (end > start && isApostrophe(text.charCodeAt(end - 1))) end--;
    if (start == end) continue;
    let word = text.substring(start, end).toLowerCase();
    st.words++;
    st.wordChars += end - start;
    wordsInSentence++;
    counts.set(word, counts.has(word) ? counts.get(word) + 1 : 1);
  }
  if (wordsInSentence > 0) st.sentences++; // an unterminated last sentence
  for (let k = 0; k < n; k++) {
    let c = text.charCodeAt(k);
    if (c < 0xdc00 || c > 0xdfff) st.chars++; // a low surrogate ends a pair already counted
    if (c == 0x0a) st.lines++;
  }
  if (n > 0 && text.charCodeAt(n - 1) != 0x0a) st.lines++;

  let words = counts.keys();
  st.uniqueWords = words.length;
  let all = new Array<WordCount>(words.length);
  for (let k = 0; k < words.length; k++) all[k] = new WordCount(words[k], counts.get(words[k]));
  all.sort(byCountThenWord);
  st.top = all.slice(0, topN);
  return st;
}
