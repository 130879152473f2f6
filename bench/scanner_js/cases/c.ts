const a = <any>window;
function f<T>(x: T): x is T & { y: 1 } { return true; }
export function overload(a: string): void;
export function overload(a: number): void;
export function overload(a: any) {}
interface I { <T>(x: T): T; new (x: number): I; method<T>(x: T): void; prop: <T>(x: T) => T; 'quoted'(): void; 42(): void; [Symbol.iterator](): void }
export declare const enum E { X }
declare module "foo" { export function g(): void; }
type Cond<T> = T extends string ? { a: 1 } : T extends number ? [1] : never;
export const lit = `multi
line ${a} template` + '/';
let re2 = a / b / c, d2 = 2;
class Q { static #count = 0; static { Q.#count = 1; } #priv() {} static async *gen() {} 'str-key'() {} 123() {} }
const g = async x => x * 2;
const h = async (x) => { return x };
label: for (;;) { break label; }
export { a as default };
