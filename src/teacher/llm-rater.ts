/**
 * A teacher rater that asks an LLM over an OpenAI-compatible chat API, for users who have one. It sends
 * one prompt per (dimension, strategy), parses "Score: k" and "Explanation: ..." from the reply, and
 * plugs into the same ensemble as the rubric raters. Off unless configured:
 *
 *   XFT_TEACHER_BASE_URL  e.g. http://127.0.0.1:8000/v1 (requests go to <base>/chat/completions)
 *   XFT_TEACHER_MODEL     the model name the server expects
 *   XFT_TEACHER_API_KEY   sent as a bearer token, when set
 */
import { Turn } from "../data/schema";
import { CalibrationSet, Conversation, Dimension, Judgment, Rater, lastUserTurn } from "./judgment";
import { STRATEGIES, Strategy, toFivePoint } from "./strategies";
import { sentenceTexts } from "./text";

export interface LlmRaterConfig {
  baseUrl: string;
  model: string;
  apiKey?: string;
  /** Per request; default 60 s. */
  timeoutMs?: number;
}

/** The configuration from XFT_TEACHER_* variables, or undefined when base URL or model is not set. */
export function llmRaterConfigFromEnv(env: NodeJS.ProcessEnv = process.env): LlmRaterConfig | undefined {
  const baseUrl = env.XFT_TEACHER_BASE_URL?.trim();
  const model = env.XFT_TEACHER_MODEL?.trim();
  if (!baseUrl || !model) return undefined;
  return { baseUrl, model, apiKey: env.XFT_TEACHER_API_KEY?.trim() || undefined };
}

const RUBRICS: Record<Dimension, string> = {
  naturalness:
    "Naturalness: does the reply read like fluent, natural language, without repeated phrases, stray symbols, " +
    "broken or run-on sentences, odd capitalisation or canned assistant phrases?",
  comprehensiveness:
    "Comprehensiveness: does the reply address everything the user's last turn asks, every question in it, " +
    "with enough detail and a clear structure?",
  "on-topic":
    "On-topic adherence: does the reply stay on the subject of the conversation, above all the user's last turn, " +
    "picking up its words, names and numbers rather than drifting elsewhere?",
};

/** Prompts keep the end of long conversations: the last turns, each cut to a length. */
const PROMPT_TURNS = 6;
const TURN_CHARS = 1500;
const ANCHOR_CHARS = 400;

const cut = (text: string, chars: number) => (text.length <= chars ? text : text.slice(0, chars) + " [...]");
const speaker = (turn: Turn) => turn.role.charAt(0).toUpperCase() + turn.role.slice(1);

/** The user message for one (dimension, strategy); exported so tests and users can read it. */
export function buildPrompt(conversation: Conversation, dimension: Dimension, strategy: Strategy, anchors: readonly Conversation[]): string {
  const lines = [`Rate the final reply below for ${RUBRICS[dimension]}`, `Use a scale from 1 (very poor) to ${strategy.scale} (excellent).`];
  if (strategy.anchors) {
    lines.push(
      "",
      `For calibration, here are ${anchors.length} replies from the same collection. A typical one of them deserves ` +
        "a middle score; rate the final reply relative to them.",
      ...anchors.map((a, i) => `Example ${i + 1}. Request: ${cut(lastUserTurn(a.context), ANCHOR_CHARS)}\nReply: ${cut(a.response, ANCHOR_CHARS)}`),
    );
  }
  lines.push(
    "",
    "Conversation:",
    ...conversation.context.slice(-PROMPT_TURNS).map((t) => `${speaker(t)}: ${cut(t.text, TURN_CHARS)}`),
    "",
    `Final reply: ${cut(conversation.response, TURN_CHARS)}`,
    "",
    "Answer in exactly two lines:",
    `Score: <an integer from 1 to ${strategy.scale}>`,
    "Explanation: <one or two sentences that quote the words or numbers your score rests on>",
  );
  return lines.join("\n");
}

/** Score and explanation from a reply; throws with the reason and the start of the reply when malformed. */
export function parseReply(reply: string, scale: number): { scaleScore: number; explanation: string } {
  const problem = (what: string) => new Error(`${what}; the reply began: ${JSON.stringify(reply.slice(0, 200))}`);
  const score = reply.match(/^[\s*#]*score[\s*]*[:=]\s*\**\s*(\d+)(?:\s*\/\s*\d+)?/im);
  if (score === null) throw problem(`no "Score: <1-${scale}>" line`);
  const scaleScore = Number(score[1]);
  if (scaleScore < 1 || scaleScore > scale) throw problem(`score ${scaleScore} is outside 1-${scale}`);
  const explanation = reply.match(/^[\s*#]*explanation[\s*]*:[\s*]*([\s\S]*)$/im)?.[1].trim() ?? "";
  if (explanation === "") throw problem('no "Explanation: ..." line with text');
  return { scaleScore, explanation };
}

export class LlmRater implements Rater {
  private anchors: readonly Conversation[] = [];

  constructor(readonly config: LlmRaterConfig) {}

  get name(): string {
    return `llm:${this.config.model}`;
  }

  fit({ anchors }: CalibrationSet): void {
    this.anchors = anchors;
  }

  async judge(conversation: Conversation, dimension: Dimension): Promise<Judgment[]> {
    return Promise.all(STRATEGIES.map((s) => this.judgeWith(conversation, dimension, s)));
  }

  private async judgeWith(conversation: Conversation, dimension: Dimension, strategy: Strategy): Promise<Judgment> {
    const reply = await this.complete(buildPrompt(conversation, dimension, strategy, this.anchors));
    let parsed: { scaleScore: number; explanation: string };
    try {
      parsed = parseReply(reply, strategy.scale);
    } catch (e) {
      throw new Error(`LLM rater ${this.name}: malformed reply to the ${dimension} prompt (${strategy.name}): ${(e as Error).message}`);
    }
    return {
      rater: this.name,
      strategy: strategy.name,
      scaleScore: parsed.scaleScore,
      score: toFivePoint(parsed.scaleScore, strategy.scale),
      explanation: parsed.explanation,
      evidence: sentenceTexts(parsed.explanation).map((s) => s.replace(/[.!?]+$/, "")),
    };
  }

  /** One chat completion at temperature 0; returns the first choice's text. */
  private async complete(prompt: string): Promise<string> {
    const url = `${this.config.baseUrl.replace(/\/+$/, "")}/chat/completions`;
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.config.apiKey !== undefined) headers.authorization = `Bearer ${this.config.apiKey}`;
    const response = await fetch(url, {
      method: "POST",
      headers,
      body: JSON.stringify({
        model: this.config.model,
        temperature: 0,
        messages: [
          { role: "system", content: "You are a careful judge of conversational replies. Follow the answer format exactly." },
          { role: "user", content: prompt },
        ],
      }),
      signal: AbortSignal.timeout(this.config.timeoutMs ?? 60_000),
    });
    const body = await response.text();
    if (!response.ok) throw new Error(`LLM rater ${this.name}: POST ${url} returned ${response.status}: ${body.slice(0, 200)}`);
    let content: unknown;
    try {
      content = JSON.parse(body).choices?.[0]?.message?.content;
    } catch {
      throw new Error(`LLM rater ${this.name}: POST ${url} did not return JSON: ${body.slice(0, 200)}`);
    }
    if (typeof content !== "string") {
      throw new Error(`LLM rater ${this.name}: POST ${url} returned no choices[0].message.content: ${body.slice(0, 200)}`);
    }
    return content;
  }
}
