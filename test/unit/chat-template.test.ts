/**
 * The chat format (src/text/chat-format.ts) against transformers: on both tiny Llama fixtures that carry a chat
 * template (in tokenizer_config.json, and as chat_template.jinja), xft's prompt is `apply_chat_template` of the
 * plain prompt as a user message with `add_generation_prompt=True`, then the cue word, in string and ids; a whole
 * training sequence is the conversation with the plain target as the assistant's reply. A run that asks for the
 * template is keyed apart, one that does not keeps its key, and a checkpoint without a template is a clear error.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { test } from "node:test";
import type { Example } from "../../src/data/schema";
import { runFolderOf } from "../../src/runs/experiment";
import { chatFormat } from "../../src/text/chat-format";
import { cueWord, oneLine, plainPromptText } from "../../src/text/format";
import { HfTokenizer } from "../../src/text/hf-tokenizer";
import { Condition, encodeExample, encodePrompt, isRationaleFirst } from "../../src/train/sequences";
import { fixtureDir, fixturesUnavailable } from "./hf-fixtures";

const PYTHON = path.join(process.cwd(), ".venv-hf", "bin", "python");
const skip = fixturesUnavailable();
const SEQ = { maxLen: 1000, maxExplTokens: 1000 };

const EXAMPLES: Example[] = [
  {
    id: "a",
    source: "tiny",
    dimension: "quality",
    context: [
      { role: "user", text: "Hi there,  how are\nyou today?" },
      { role: "assistant", text: "Café déjà vu 🙂" },
    ],
    response: "Fine, thanks. 3.14159",
    label: "good",
    labelSet: ["bad", "good"],
    explanations: ["It answers\nthe question,  politely."],
    split: "test",
  },
  {
    id: "b",
    source: "tiny",
    dimension: "entailment",
    context: [{ role: "premise", text: "Two women are embracing while holding to go packages." }],
    response: "The sisters are hugging goodbye.",
    label: "neutral",
    labelSet: ["entailment", "neutral", "contradiction"],
    explanations: ["Hugging does not mean they are sisters."],
    split: "test",
  },
];

/** What the format is documented to be: the plain prompt's lines as the user's message, the cue and the target as the reply. */
function conversation(ex: Example, condition: Condition): { user: string; reply: string } {
  const t = plainPromptText(ex);
  const expl = oneLine(ex.explanations[0]);
  const reply =
    condition === "label"
      ? `${cueWord(false)} ${ex.label}`
      : isRationaleFirst(condition)
        ? `${cueWord(true)} ${expl}\n${cueWord(false)} ${ex.label}`
        : `${cueWord(false)} ${ex.label}\n${cueWord(true)} ${expl}`;
  return { user: t.head + t.context.join("") + t.response, reply };
}

interface Rendered {
  text: string;
  ids: number[];
}

/** transformers' apply_chat_template on each conversation (the prompt with the generation prompt; the whole one without). */
function transformers(dir: string, requests: { messages: { role: string; content: string }[]; generation: boolean }[]): Rendered[] {
  const script = `
import json, sys
from transformers import AutoTokenizer
req = json.load(sys.stdin)
tok = AutoTokenizer.from_pretrained(req["dir"])
out = []
for r in req["requests"]:
    text = tok.apply_chat_template(r["messages"], add_generation_prompt=r["generation"], tokenize=False)
    ids = tok.apply_chat_template(r["messages"], add_generation_prompt=r["generation"], tokenize=True, return_dict=True)["input_ids"]
    out.append({"text": text, "ids": list(ids)})
print(json.dumps(out))
`;
  const run = spawnSync(PYTHON, ["-c", script], { input: JSON.stringify({ dir, requests }), encoding: "utf8", maxBuffer: 1 << 26 });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout) as Rendered[];
}

for (const fixture of ["llama-gqa", "llama-bf16-sharded"] as const) {
  test(`${fixture}: xft's chat prompt and training sequence are transformers' apply_chat_template, string and ids`, { skip }, () => {
    const dir = fixtureDir(fixture);
    const tok = HfTokenizer.load(dir);
    const fmt = chatFormat(tok, dir);
    const conditions: Condition[] = ["label", "label+expl", "expl+label"];
    const cases = EXAMPLES.flatMap((ex) => conditions.map((condition) => ({ ex, condition, ...conversation(ex, condition) })));
    const reference = transformers(
      dir,
      cases.flatMap((c) => [
        { messages: [{ role: "user", content: c.user }], generation: true },
        {
          messages: [
            { role: "user", content: c.user },
            { role: "assistant", content: c.reply },
          ],
          generation: false,
        },
      ]),
    );
    cases.forEach((c, i) => {
      const [prompt, whole] = [reference[2 * i], reference[2 * i + 1]];
      const cue = fmt.encode(cueWord(isRationaleFirst(c.condition)));
      const ours = encodePrompt(c.ex, fmt, SEQ.maxLen, isRationaleFirst(c.condition));
      assert.deepEqual(ours.slice(0, ours.length - cue.length), prompt.ids, `${c.ex.id} ${c.condition}: prompt ids`);
      assert.equal(fmt.decode(ours), prompt.text + cueWord(isRationaleFirst(c.condition)), `${c.ex.id} ${c.condition}: prompt text`);
      const sequence = encodeExample(c.ex, c.condition, fmt, SEQ);
      assert.deepEqual(sequence.tokens, whole.ids, `${c.ex.id} ${c.condition}: sequence ids`);
      assert.equal(fmt.decode(sequence.tokens), whole.text, `${c.ex.id} ${c.condition}: sequence text`);
    });
    // The turn's end (here "</s>\n") ends a generated rationale; a newline hands over to the label.
    assert.equal(fmt.endsRationale(fmt.end[0], []), "eos");
    assert.equal(fmt.endsRationale(fmt.encode("\n")[0], []), "label");
  });
}

test("a checkpoint without a chat template is an error naming its folder; asking for one keys the run apart", { skip }, () => {
  const qwen = fixtureDir("qwen2");
  assert.throws(() => chatFormat(HfTokenizer.load(qwen), qwen), new RegExp(`${qwen}: a chat template was asked for .*has none`));
  const spec = { dataset: "esnli", condition: "label", seed: 1, profile: "ci" };
  assert.throws(() => runFolderOf({ ...spec, init: `hf:${qwen}`, chatTemplate: true }), /qwen2: a chat template was asked for/);
  assert.throws(() => runFolderOf({ ...spec, chatTemplate: true }), /a chat template is a checkpoint's, but init is scratch/);
  const llama = `hf:${fixtureDir("llama-gqa")}` as const;
  const plain = runFolderOf({ ...spec, init: llama });
  assert.equal(runFolderOf({ ...spec, init: llama, chatTemplate: false }).key, plain.key, "chatTemplate false is the plain run");
  assert.notEqual(runFolderOf({ ...spec, init: llama, chatTemplate: true }).key, plain.key);
});
