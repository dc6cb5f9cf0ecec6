/**
 * A checkpoint's chat template as a text format (`--chat-template`, a run spec's `chatTemplate: true`): the plain
 * format (format.ts) inside the conversation the checkpoint was tuned on. The plain prompt's lines (task, context
 * turns, response) are one user message, rendered by the checkpoint's Jinja template with `add_generation_prompt`
 * as transformers' `apply_chat_template` renders it; the assistant's reply is the plain format's cue and target:
 *
 *   <template: user turn>Task: ...\nUser: ...\nResponse: ...<template: end of turn, assistant turn>Score: <label>
 *   \nExplanation: <explanation><template: end of the assistant's turn>
 *
 * (rationale first: `Explanation: <explanation>\nScore: <label>`). The reply opens with its cue word, as a prefilled
 * assistant turn, so the label is read after "Score:" exactly as in the plain format and a newline still ends a
 * generated rationale. The turn's end is what the template writes after an assistant message (e.g. `<|im_end|>\n`).
 *
 * Texts are encoded piece by piece (so the prompt can be cut to its budget), without the tokenizer's post-processor
 * (the template writes its own bos): for byte-level tokenizers the pieces' ids are the whole string's, as the tests
 * check against transformers.
 */
import { Template } from "@huggingface/jinja";
import { createHash } from "crypto";
import { cueWord, plainFormat, plainPromptText, TextFormat } from "./format";
import type { HfTokenizer } from "./hf-tokenizer";

/** A chat message as templates read it. */
export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface ChatFormat extends TextFormat {
  readonly kind: "chat";
  /** sha256 of the template: part of a run's key where the run asked for it. */
  readonly templateHash: string;
}

/** The checkpoint's chat template; a checkpoint without one is an error that names its folder. */
function requireChatTemplate(tok: HfTokenizer, dir: string): string {
  if (tok.chatTemplate === undefined) {
    throw new Error(
      `${dir}: a chat template was asked for (--chat-template), but this checkpoint has none (no chat_template.jinja, ` +
        `no "chat_template" in tokenizer_config.json); leave --chat-template out to use the plain format`,
    );
  }
  return tok.chatTemplate;
}

export function chatTemplateHash(tok: HfTokenizer, dir: string): string {
  return createHash("sha256").update(requireChatTemplate(tok, dir)).digest("hex");
}

/**
 * The template rendered as transformers renders it: the messages, `add_generation_prompt`, no tools or documents,
 * and the special tokens' strings (`bos_token`, `eos_token`, ...).
 */
function renderChat(tok: HfTokenizer, dir: string, messages: readonly ChatMessage[], addGenerationPrompt: boolean): string {
  const specials = Object.fromEntries(Object.entries(tok.specialTokens).map(([role, token]) => [`${role}_token`, token]));
  try {
    return new Template(requireChatTemplate(tok, dir)).render({
      ...specials,
      messages,
      tools: null,
      documents: null,
      add_generation_prompt: addGenerationPrompt,
    });
  } catch (err) {
    throw new Error(`${dir}: its chat template does not render (${(err as Error).message})`);
  }
}

// Stand-ins for a message's content, which templates copy (some trim it, so no whitespace).
const USER = "XFT_USER_CONTENT";
const REPLY = "XFT_ASSISTANT_CONTENT";

/** What the template writes around a user message and its reply: before the message, between it and the reply, after the reply. */
function chatFrame(tok: HfTokenizer, dir: string): { before: string; between: string; after: string } {
  const prompt = renderChat(tok, dir, [{ role: "user", content: USER }], true);
  const at = prompt.indexOf(USER);
  if (at < 0 || prompt.indexOf(USER, at + 1) >= 0) throw new Error(`${dir}: its chat template does not write a user message's content once`);
  const turn = renderChat(
    tok,
    dir,
    [
      { role: "user", content: USER },
      { role: "assistant", content: REPLY },
    ],
    false,
  );
  if (!turn.startsWith(prompt + REPLY)) {
    throw new Error(`${dir}: its chat template writes an assistant's reply other than after its generation prompt; xft cannot train on it`);
  }
  return { before: prompt.slice(0, at), between: prompt.slice(at + USER.length), after: turn.slice(prompt.length + REPLY.length) };
}

/** The chat format of a checkpoint (see the top of this file); its tokenizer must be the checkpoint folder's. */
export function chatFormat(tok: HfTokenizer, dir: string): ChatFormat {
  const plain = plainFormat(tok);
  const frame = chatFrame(tok, dir);
  const encode = plain.encode;
  const end = encode(frame.after);
  // The turn ends at its first written token (an end-of-turn or eos token; a newline after it is part of the end).
  const turnEnd = end.find((id) => tok.decode([id]).trim() !== "");
  const stops = new Set([turnEnd, tok.eosId].filter((id): id is number => id !== undefined));
  return {
    ...plain,
    kind: "chat",
    templateHash: chatTemplateHash(tok, dir),
    promptParts: (ex, rationaleFirst) => {
      const text = plainPromptText(ex);
      return {
        head: [...encode(frame.before), ...encode(text.head)],
        context: text.context.flatMap(encode),
        response: encode(text.response),
        cue: [...encode(frame.between), ...encode(cueWord(rationaleFirst))],
      };
    },
    end,
    endsRationale: (token) => (stops.has(token) ? "eos" : tok.decode([token]).includes("\n") ? "label" : undefined),
  };
}
