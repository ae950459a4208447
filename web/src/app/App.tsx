export function App() {
  return (
    <main className="mx-auto max-w-xl p-6">
      <h1 className="text-2xl font-semibold">tasksync</h1>
    </main>
  )
}
