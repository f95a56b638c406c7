// Why a model stopped, in each provider's words. OpenAI's finish_reason has five values; Anthropic's stop_reason and
// Gemini's finishReason have more, and a few of theirs have no exact OpenAI twin (README, Translation).

/** Anthropic stop_reason → OpenAI finish_reason. `jsonTool`: the tool_use was the forced response_format tool. */
export function finishFromAnthropic(stopReason: string, jsonTool: boolean): string {
  switch (stopReason) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return jsonTool ? 'stop' : 'tool_calls';
    case 'refusal':
      return 'content_filter';
    // end_turn, stop_sequence, pause_turn (server tools, which Sightline never requests) and anything newer.
    default:
      return 'stop';
  }
}

const GEMINI_FILTERED = new Set(['SAFETY', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII', 'IMAGE_SAFETY', 'IMAGE_PROHIBITED_CONTENT', 'IMAGE_RECITATION']);

/**
 * Gemini candidate finishReason → OpenAI finish_reason. Gemini says STOP after function calls, where OpenAI says
 * tool_calls: `calledTools` tells them apart. (A blocked prompt, promptFeedback.blockReason, is content_filter.)
 */
export function finishFromGemini(reason: string, calledTools: boolean): string {
  if (reason === 'MAX_TOKENS') return 'length';
  if (GEMINI_FILTERED.has(reason)) return 'content_filter';
  // STOP, OTHER, MALFORMED_FUNCTION_CALL, FINISH_REASON_UNSPECIFIED and anything newer.
  return calledTools ? 'tool_calls' : 'stop';
}

/** OpenAI finish_reason → Anthropic stop_reason. OpenAI does not say whether `stop` was a stop sequence. */
export function stopReasonFromOpenAi(finishReason: string): string {
  switch (finishReason) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      return 'end_turn';
  }
}
