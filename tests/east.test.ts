import { describe, expect, it } from 'vitest';
import { parseGguf } from '../src/engine/gguf/reader.js';
import { contrastiveVector, eastVector, shuffledControl, typicalNorm, type EastRun } from '../src/steering/east.js';
import { ControlVector } from '../src/steering/control-vector.js';
import { exportControlVector, importControlVector } from '../src/steering/llama-cpp.js';
import { parseVectorFile } from '../src/steering/vector-file.js';

const f = (...x: number[]) => Float32Array.from(x);

describe('EAST Eq. 1', () => {
  // Two runs, hidden size 2, computed by hand:
  // run A: z = (1,0), (3,2); h = 1, 3   mean (2,1)   centred: (-1,-1), (1,1)
  // run B: z = (0,4), (0,0), (0,2); h = 2, 0, 2   mean (0,2)   centred: (0,2), (0,-2), (0,0)
  // numerator: 1*(-1,-1) + 3*(1,1) + 2*(0,2) + 0 + 2*(0,0) = (2, 6); Z = 1+3+2+0+2 = 8 -> u = (0.25, 0.75)
  const runs: EastRun[] = [
    { z: [f(1, 0), f(3, 2)], h: [1, 3] },
    { z: [f(0, 4), f(0, 0), f(0, 2)], h: [2, 0, 2] },
  ];

  it('matches a hand-computed example', () => {
    expect(Array.from(eastVector(runs))).toEqual([0.25, 0.75]);
  });

  it('without run-centring it is the plain entropy-weighted mean', () => {
    // (1*(1,0) + 3*(3,2) + 2*(0,4) + 0 + 2*(0,2)) / 8 = (10, 18) / 8
    expect(Array.from(eastVector(runs, { center: false }))).toEqual([1.25, 2.25]);
  });

  it('run-centring removes a per-run offset entirely', () => {
    const shifted = runs.map((r, k) => ({ z: r.z.map((z) => z.map((v) => v + (k + 1) * 100)), h: r.h }));
    const a = eastVector(runs);
    const b = eastVector(shifted);
    a.forEach((v, i) => expect(b[i]).toBeCloseTo(v, 4));
    expect(eastVector(shifted, { center: false })[0]).toBeGreaterThan(100);
  });

  it('rejects mismatched shapes and all-zero entropy', () => {
    expect(() => eastVector([{ z: [f(1, 2)], h: [1, 2] }])).toThrow(expect.objectContaining({ code: 'BAD_SHAPE' }));
    expect(() => eastVector([{ z: [f(1, 2), f(1)], h: [1, 1] }])).toThrow(expect.objectContaining({ code: 'BAD_SHAPE' }));
    expect(() => eastVector([{ z: [f(1, 2)], h: [0] }])).toThrow(/Z = 0/);
  });

  it('the shuffled control keeps the multiset of entries and is deterministic per seed', () => {
    const u = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i * 3.1));
    const s1 = shuffledControl(u, 1);
    const s2 = shuffledControl(u, 1);
    expect(Array.from(s1)).toEqual(Array.from(s2));
    expect(Array.from(s1).sort()).toEqual(Array.from(u).sort());
    expect(Array.from(s1)).not.toEqual(Array.from(u));
  });

  it('contrastive variant: top minus bottom entropy steps', () => {
    // centred items sorted by h: B2 (0,-2) h0, A1 (-1,-1) h1, B1 (0,2) h2, B3 (0,0) h2, A2 (1,1) h3
    // fraction 0.2 -> n = 1: top A2 (1,1) minus bottom B2 (0,-2) = (1, 3)
    expect(Array.from(contrastiveVector(runs, { fraction: 0.2 }))).toEqual([1, 3]);
  });

  it('typical norm is the mean L2 norm of the activations', () => {
    expect(typicalNorm([{ z: [f(3, 4), f(0, 0)], h: [1, 1] }])).toBeCloseTo(2.5, 9);
  });
});

describe('llama.cpp control vectors', () => {
  it('export then import gives the same vector, with llama.cpp layout and numbering', () => {
    const v = Float32Array.from({ length: 16 }, (_, i) => i / 7 - 1);
    const bytes = exportControlVector([{ layer: 5, vector: v }], 'llama');
    const f = parseGguf(bytes);
    expect(f.metadata.get('general.architecture')).toBe('controlvector');
    expect(f.metadata.get('controlvector.model_hint')).toBe('llama');
    expect(Number(f.metadata.get('controlvector.layer_count'))).toBe(1);
    expect(f.tensors.map((t) => [t.name, t.typeName, t.dims])).toEqual([['direction.5', 'F32', [16]]]);
    const back = importControlVector(bytes);
    expect(back.directions).toHaveLength(1);
    expect(back.directions[0]!.layer).toBe(5);
    expect(Array.from(back.directions[0]!.vector)).toEqual(Array.from(v));
  });

  it('a vector on block 0 cannot be exported', () => {
    expect(() => exportControlVector([{ layer: 0, vector: f(1, 2) }], 'llama')).toThrow(/block 0/);
  });

  it('import rejects other GGUF files', () => {
    const notCv = exportControlVector([{ layer: 1, vector: f(1, 2) }], 'llama');
    const bytes = Uint8Array.from(notCv);
    const txt = new TextDecoder('latin1').decode(bytes);
    const at = txt.indexOf('controlvector', txt.indexOf('general.architecture'));
    bytes.set(new TextEncoder().encode('somethingelse'), at);
    expect(() => importControlVector(bytes)).toThrow(expect.objectContaining({ code: 'BAD_VECTOR' }));
  });

  it('steerlab vector JSON round-trips and rejects a wrong size', () => {
    const v = f(0.5, -1, 2);
    const file = ControlVector.single(3, v, { residNorm: 10, meta: { method: 'east', model: { id: 'm', hash: 'h' } } }).toFile();
    expect(parseVectorFile(JSON.stringify(file)).directions[0]!.vector).toEqual([0.5, -1, 2]);
    expect(() => parseVectorFile(JSON.stringify({ ...file, hidden: 4 }))).toThrow(expect.objectContaining({ code: 'BAD_VECTOR' }));
    expect(() => parseVectorFile('{')).toThrow(expect.objectContaining({ code: 'BAD_VECTOR' }));
  });
});

describe('EAST nulls and confounds', () => {
  const runs: EastRun[] = [
    { z: [f(1, 0), f(3, 2)], h: [1, 3] },
    { z: [f(0, 4), f(0, 0), f(0, 2)], h: [2, 0, 2] },
  ];

  it('the permuted-entropy null is Eq. 1 on entropies shuffled within runs, nothing else changed', async () => {
    const { permutedEntropyVector } = await import('../src/steering/east.js');
    const { Rng } = await import('../src/util/rng.js');
    const rng = new Rng('perm');
    const byHand = eastVector(runs.map((r) => ({ z: r.z, h: rng.shuffle([...r.h]) })));
    expect(Array.from(permutedEntropyVector(runs, 'perm'))).toEqual(Array.from(byHand));
    // Same entropies per run (only their order moves), and a run with equal entropies is unchanged.
    const flat: EastRun[] = [{ z: [f(1, 0), f(3, 2)], h: [2, 2] }];
    expect(Array.from(permutedEntropyVector(flat, 1))).toEqual(Array.from(eastVector(flat)));
  });

  it('the step direction is the within-run slope of z on the step index', async () => {
    const { stepDirection, cosine, projectOut } = await import('../src/steering/east.js');
    // z_t = (t, 5) in one run and (2t + 7, 1) in another: pooled slope sum(dt*dz)/sum(dt^2).
    const a: EastRun = { z: [f(0, 5), f(1, 5), f(2, 5)], h: [1, 1, 1] };
    const b: EastRun = { z: [f(7, 1), f(9, 1)], h: [1, 1] };
    // run a: dt = -1,0,1 -> sum dt*dz = (2, 0), sum dt^2 = 2; run b: dt = -.5,.5, dz = (-1,0),(1,0) -> (1, 0), 0.5
    const d = stepDirection([a, b]);
    expect(d[0]).toBeCloseTo(3 / 2.5, 6);
    expect(d[1]).toBeCloseTo(0, 6);
    expect(cosine(f(1, 1), f(2, 2))).toBeCloseTo(1, 12);
    expect(cosine(f(1, 0), f(0, 3))).toBeCloseTo(0, 12);
    const p = projectOut(f(3, 4), f(1, 0));
    expect(Array.from(p)).toEqual([0, 4]);
  });

  it('random directions have the requested norm and are reproducible by seed', async () => {
    const { randomDirection } = await import('../src/steering/east.js');
    const a = randomDirection(64, 7, 's1');
    expect(Math.hypot(...a)).toBeCloseTo(7, 4);
    expect(Array.from(randomDirection(64, 7, 's1'))).toEqual(Array.from(a));
    expect(Array.from(randomDirection(64, 7, 's2'))).not.toEqual(Array.from(a));
  });
});
