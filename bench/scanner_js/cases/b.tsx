import * as React from 'react';
type Props<T> = { items: T[]; render: (t: T) => React.ReactNode };
export function List<T,>({ items, render }: Props<T>): JSX.Element {
  return <ul>{items.map((t, i) => <li key={i}>{render(t)}</li>)}</ul>;
}
export const Generic = <T extends object>(p: Props<T>) => <List<T> {...p} />;
const cast = value as unknown as string;
enum Mode { A = 'a', B = 'b' }
export default class Page extends React.PureComponent<Props<string>, { s: number }> {
  private timer?: number;
  static getDerivedStateFromProps(p: Props<string>) { return null; }
  public render(): React.ReactNode {
    const el = <span title={"a > b"}>x</span>;
    return el;
  }
  protected onTick = async (): Promise<void> => { await fetch('/x'); };
  get value(): number { return 1 }
  declare readonly y: number;
  [key: string]: unknown;
}
abstract class Base<T = {}> { abstract run(): void; }
declare global { interface Window { x: number } }
export namespace NS { export const a = 1; }
export async function* gen<T>(x: T): AsyncGenerator<T> { yield x; }
const obj = { method() {}, arrow: () => 1 };
export type { Props as P };
export * from './x';
let fn1 = function* () {}, fn2 = async function () {};
var v1 = 1, v2 = (x: number) => x;
