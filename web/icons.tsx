// Small inline icons (no icon font, no emoji: a bare Chromium has no emoji font).

/** The mark before a stream's name: a lock for a private stream, else `#`. */
export function StreamMark ({ private: isPrivate }: { private: boolean }) {
  return (
    <span class='stream-mark' aria-hidden='true'>
      {isPrivate
        ? <svg class='lock' viewBox='0 0 16 16' width='11' height='11'><path d='M4 7V5a4 4 0 0 1 8 0v2h1.5v8h-11V7zm2 0h4V5a2 2 0 0 0-4 0z' fill='currentColor' /></svg>
        : '#'}
    </span>
  )
}
