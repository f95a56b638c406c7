// Shapes every translator shares: what a request translation hands the request path, and what the response side
// needs to remember of the request (a translated answer depends on what was asked: usage chunks, a forced JSON tool).
import type { JsonObject } from '../shared.ts';

/** A request ready for the upstream. Credentials and the base URL are the request path's, not translation's. */
export interface TranslatedRequest {
  /** Path and query on the upstream's base URL: `/v1/messages`, `/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse`. */
  path: string;
  /** Headers the upstream needs besides credentials and content-type (`anthropic-version`). */
  headers: Readonly<Record<string, string>>;
  body: JsonObject;
  /** Whether the upstream will answer with SSE. */
  stream: boolean;
  /**
   * Paths of caller fields carried over approximately (a hint the provider has no use for, a system message moved
   * to the top): never silent, so the request path can surface them (a response header, the event).
   */
  approximated: string[];
}

/** What translating an upstream answer into OpenAI's shape needs to know about the request. */
export interface OpenAiAnswerContext {
  /** The model the caller asked for; answers name the upstream's own model and fall back to this one. */
  model: string;
  /** Unix seconds stamped on the completion and every chunk (`created`). */
  created: number;
  /** The caller set `stream_options.include_usage`: only then does the stream end with a usage chunk. */
  includeUsage: boolean;
  /** Anthropic only: name of the forced tool whose input is the `response_format` JSON, null when none. */
  jsonTool: string | null;
}

/** What translating an OpenAI answer into Anthropic's shape needs to know about the request. */
export interface AnthropicAnswerContext {
  /** The model the caller asked for, used when the upstream's answer names none. */
  model: string;
}

export interface OpenAiRequestTranslation {
  request: TranslatedRequest;
  context: OpenAiAnswerContext;
}

export interface AnthropicRequestTranslation {
  request: TranslatedRequest;
  context: AnthropicAnswerContext;
}

export interface RequestOptions {
  /** The upstream model name (an alias already resolved); default: the body's `model`. */
  model?: string;
  /** Clock in milliseconds for `created`; default `Date.now()`. */
  now?: number;
}
