//! The table registry's machinery. A stored data type is a row type ([`StoredRow`]): the
//! events it is made from, its table (defined once in `marketprism-schema`) and its
//! conversion. [`crate::visit_tables`] lists them once; batches, inserts, the archive and the
//! end-to-end checks go through that list (as a [`TableVisitor`]), so adding a data type adds
//! a row type and one line there.

use std::marker::PhantomData;

use clickhouse::{Client, Row, RowOwned, RowRead, RowWrite};
use futures::future::BoxFuture;
use marketprism_model::{DataType, Event};
use marketprism_schema::Table;
use serde::Serialize;

use crate::archive::{self, ArchiveError, TableReport, Tiers};
use crate::RowError;

/// A row of a stored data type's table.
pub trait StoredRow:
    Row + RowOwned + RowRead + Serialize + for<'b> RowWrite<Value<'b> = Self> + Send + Sync + 'static
{
    /// Its table.
    const TABLE: &'static Table;
    /// The data type of the events it is made from.
    const DATA_TYPE: DataType;

    /// The row of `event`; `None` when the event is not of [`Self::DATA_TYPE`].
    fn from_event(event: &Event) -> Option<Result<Self, RowError>>;
}

/// Something done with every stored data type, knowing its row type.
pub trait TableVisitor {
    /// Called once per stored data type, in the order a batch is inserted.
    fn visit<R: StoredRow>(&mut self);
}

/// Every registered table, its row type erased.
pub(crate) fn registered() -> Vec<&'static dyn StoredTable> {
    struct Collect(Vec<&'static dyn StoredTable>);
    impl TableVisitor for Collect {
        fn visit<R: StoredRow>(&mut self) {
            self.0.push(&Stored::<R>::ENTRY);
        }
    }
    let mut tables = Collect(Vec::new());
    crate::visit_tables(&mut tables);
    tables.0
}

/// A registered table, its row type erased, for code that goes through every table.
pub(crate) trait StoredTable: Send + Sync {
    /// Empty rows of the table, to fill for an insert.
    fn pending(&self) -> Box<dyn PendingRows>;
    /// Copies the table's closed windows from hot to cold.
    fn archive<'a>(&self, tiers: &'a Tiers<'a>)
        -> BoxFuture<'a, Result<TableReport, ArchiveError>>;
}

/// The registry entry of row type `R`.
pub(crate) struct Stored<R>(PhantomData<fn() -> R>);

impl<R> Stored<R> {
    /// The entry, for the registry's list.
    pub(crate) const ENTRY: Stored<R> = Stored(PhantomData);
}

impl<R: StoredRow> StoredTable for Stored<R> {
    fn pending(&self) -> Box<dyn PendingRows> {
        Box::new(Vec::<R>::new())
    }

    fn archive<'a>(
        &self,
        tiers: &'a Tiers<'a>,
    ) -> BoxFuture<'a, Result<TableReport, ArchiveError>> {
        Box::pin(archive::archive_table::<R>(tiers))
    }
}

/// Rows of one table waiting for their insert.
pub(crate) trait PendingRows: Send + Sync {
    /// The table.
    fn table(&self) -> &'static Table;
    /// The data type of the events the rows are made from.
    fn data_type(&self) -> DataType;
    /// How many rows wait.
    fn len(&self) -> usize;
    /// Converts `event`, of this table's data type, into a row.
    fn push(&mut self, event: &Event) -> Result<(), RowError>;
    /// Drops the rows after the first `len`.
    fn truncate(&mut self, len: usize);
    /// Inserts the rows, if any, in one `INSERT`.
    fn insert<'a>(&'a self, client: &'a Client) -> BoxFuture<'a, clickhouse::error::Result<()>>;
}

impl<R: StoredRow> PendingRows for Vec<R> {
    fn table(&self) -> &'static Table {
        R::TABLE
    }

    fn data_type(&self) -> DataType {
        R::DATA_TYPE
    }

    fn len(&self) -> usize {
        Vec::len(self)
    }

    fn push(&mut self, event: &Event) -> Result<(), RowError> {
        let row = R::from_event(event).ok_or(RowError::OtherTable {
            table: R::TABLE.name,
            data_type: event.data_type().as_str(),
        })??;
        Vec::push(self, row);
        Ok(())
    }

    fn truncate(&mut self, len: usize) {
        Vec::truncate(self, len);
    }

    fn insert<'a>(&'a self, client: &'a Client) -> BoxFuture<'a, clickhouse::error::Result<()>> {
        Box::pin(async move {
            if self.is_empty() {
                return Ok(());
            }
            let mut insert = client.insert::<R>(R::TABLE.name).await?;
            for row in self {
                insert.write(row).await?;
            }
            insert.end().await
        })
    }
}
