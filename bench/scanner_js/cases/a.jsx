import React, { useState } from 'react';
// comment with ' quote
export default function App({ items = [] }) {
  const [open, setOpen] = useState(false);
  const re = /<div>/g;
  return (
    <Layout title="Home's page" onClose={() => setOpen(false)}>
      {items.length > 0 ? (
        <ul>
          {items.map((item) => (
            <li key={item.id} className={`item ${item.done ? 'done' : ''}`}>
              {item.name} — don't "panic" {'}'} {/* } */}
              <a href="http://x.com/a?b=1&c=2">link</a>
            </li>
          ))}
        </ul>
      ) : (
        <p>Nothing here: 1 &lt; 2 && 3 &gt; 2</p>
      )}
      <input value={open ? 1 : 0} disabled />
      <Foo.Bar x:y="1" data-z={2} {...rest} />
    </Layout>
  );
}
export const Small = () => <>frag ' ment</>;
const x = a < b ? c : d;
function later() { return x / 2 / y; }
export class Comp extends React.Component {
  state = { n: 0 };
  handle = () => this.setState({ n: this.state.n + 1 });
  render() { return <div onClick={this.handle}>{this.state.n}</div>; }
}
let y = 1
/2/g
function z() {}
