/** The text side of a model, as the session needs it. Built from transformers.js tokenizers. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface Tokenizer {
  encode(text: string, addSpecial?: boolean): number[];
  decode(ids: number[]): string;
  applyChatTemplate(messages: ChatMessage[], addGenerationPrompt?: boolean): string;
  readonly eosIds: number[];
  readonly bosId: number | null;
  /** Texts of the special added tokens (split out before pre-tokenisation), for incremental encoding. */
  readonly specialTokens?: readonly string[];
}
