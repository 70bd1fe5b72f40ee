/** steerlab's command line: every command runs on the same engine the browser worker uses. */
import { SteerlabError } from '../errors.js';
import { generateCommand } from './generate.js';
import { modelCommand, tokenizeCommand } from './model.js';
import { csvCommand, envsCommand, metricsCommand, runCommand } from './run.js';

const USAGE = `steerlab <command>
  model fetch                         put the default model into the cache; prints its path
  model info <model> [--dtype D]      one JSON object: architecture, layers, hidden, heads, ...
  tokenize <model> --json FILE        JSON array of strings -> JSON array of token-id arrays
  generate <model> --prompt TEXT [--chat] [--max-new-tokens N] [--temperature T] [--top-p P] [--seed S]
           [--dtype D] [--vector FILE [--layer L] [--beta B] [--positions all|prompt|generated]] [--json]
           [--vreason k=2,steps=3,lr=0.01[,mode=switch|down|up][,level=token][,ema=0.9][,span=step|prompt]]
  run --env ENV [--env-options JSON] [--scenario FILE|ID] [--episodes N] [--horizon T] [--seed S]
      [--policy llm|random|greedy|egreedy|ucb|ts|optimal] [--model M] [--mode exact|sampled] [--samples M]
      [--temperature T] [--vector FILE [--layer L] [--beta B] [--positions all|prompt|generated]] [--out trace.jsonl]
  metrics trace.jsonl...              per-run and aggregate metrics (95 % intervals) as JSON
  csv trace.jsonl [--summaries]       the same records as CSV
  envs                                games and built-in scenarios
  east --model M --env ENV [--env-options JSON] [--scenario S] [--episodes N] [--horizon T] --layer L[,L2...]
       [--seed S] [--mode exact|sampled] [--samples M] [--temperature T]
       [--method east|uncentred|contrastive|shuffled] [--position last-prompt|last-prefix]
       [--trace trace.jsonl] --out vector.json       one vector file with every layer's direction
  vector export vector.json --gguf out.gguf [--model-hint ARCH]   every layer -> llama.cpp control vector
  vector import in.gguf --out vector.json [--layer L]             all layers, or only layer L
  vector info vector.json             per layer: norm, residual norm, relative
  sweep --model M --env ENV --vector FILE [--layers L,...] [--betas B,...] [--temperatures T,...]
        [--control none|shuffled] [--positions all|prompt|generated] [--seeds N] [--horizon T]
        [--seed S] [--mode exact|sampled] [--samples M] [--out sweep.jsonl] [--shard K/N] [--resume]
                                      a one-layer vector is moved to each layer; a multi-layer file
                                      steers each listed layer (among its own) with that layer's direction.
                                      Runs are numbered i = 0.. in the order layer, temperature, beta, seed;
                                      --shard K/N (1 <= K <= N) plays those with i mod N = K-1 (needs --out);
                                      --resume keeps the finished runs already in --out and plays the rest
  sweep --merge shard.jsonl... [--out all.jsonl]   the shards' table (and file, in grid order) as one sweep's
  repro east|format|vreason [--out DIR] [--model M] [--report-only]   regenerate docs/results/<name>.{md,json}
  vreason gradcheck [--model M] [--prompt TEXT] [--directions N]   V-Reason's gradient vs finite differences;
                                      the last line is the max relative error (exit 1 above 1e-3)
  bench [--model M] [--only load,decode,scoring,agent,east] [--reps N] [--out FILE]   benchmarks -> JSON
<model> is a .gguf path, a local transformers.js folder, a hub id, or 'default'.
Steering adds beta x the vector at --positions (default generated); --beta defaults to 1.
Numbers may be negative without '=' (--beta -2); unknown flags are refused.`;

type Command = (argv: string[]) => Promise<void>;
const COMMANDS: Record<string, () => Promise<Command>> = {
  model: async () => modelCommand,
  tokenize: async () => tokenizeCommand,
  generate: async () => generateCommand,
  run: async () => runCommand,
  metrics: async () => metricsCommand,
  envs: async () => envsCommand,
  csv: async () => csvCommand,
  bench: async () => (await import('./bench.js')).benchCommand,
  east: async () => (await import('./east.js')).eastCommand,
  vector: async () => (await import('./east.js')).vectorCommand,
  sweep: async () => (await import('./sweep.js')).sweepCommand,
  repro: async () => (await import('./repro.js')).reproCommand,
  vreason: async () => (await import('./vreason.js')).vreasonCommand,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return name ? 0 : 2;
  }
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`steerlab: unknown command '${name}'\n${USAGE}\n`);
    return 2;
  }
  try {
    await (await load())(rest);
    return 0;
  } catch (e) {
    const msg = e instanceof SteerlabError ? `${e.code}: ${e.message}` : (e as Error).stack ?? String(e);
    process.stderr.write(`steerlab: ${msg.split('\n')[0]}\n`);
    if (!(e instanceof SteerlabError) && process.env.STEERLAB_DEBUG) process.stderr.write(`${(e as Error).stack}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
